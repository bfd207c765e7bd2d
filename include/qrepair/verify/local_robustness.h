// Local properties around one sample, as plain Property values for the verifier: the L-infinity
// ball of radius R in the data's own units (raw values), clipped to the data's valid range, and
// the unsafe set "the quantized network's decision is not the target".
//
// Raw values become network inputs as the data loader maps them: x = float32(raw * S + O)
// (io/dataset.h; S > 0). That map is monotone, so the ball's image is the box
// [x(lo), x(hi)] per input, lo = max(raw - R, clip_lo), hi = min(raw + R, clip_hi). For
// integer-valued data (IDX bytes) the device is only ever fed the integer grid inside the ball;
// the box contains every grid point, so a proof over the box is a proof over the grid, and a
// counterexample found in the box is mapped back to a grid point with the same input codes; when
// no grid point has them, the box is split around the unreachable code and both parts are
// verified again (certify.cc), so verdicts are exact over the grid.
//
// "Decision is not t" with ties to the lowest index (the reference pass's argmax): for argmax
// networks, some Y_k >= Y_t with k < t or Y_k > Y_t with k > t; for argmin networks (outputs are
// Y in the file's orientation, the advisory is the lowest) Y_k <= Y_t with k < t, Y_k < Y_t with
// k > t. One clause per k != t.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/verify/property.h"

namespace qrepair {

// How raw data values become network inputs, and which raw values are valid.
struct RawInputMap {
  double scale = 1.0;    // S > 0
  double offset = 0.0;   // O
  double clip_lo = 0.0;  // valid raw range, inclusive
  double clip_hi = 255.0;
  bool integer_grid = true;  // raw values are integers (the ball is the integer grid inside it)
  float ToInput(double raw) const { return static_cast<float>(raw * scale + offset); }
};

// The valid raw range of a data file's element type when its format states one: IDX and NumPy
// files of 8- and 16-bit integers (uint8: 0..255). nullopt for CSV, float and wider types (the
// caller then uses the observed range and says so). Reads only the header.
std::optional<std::pair<double, double>> RawTypeRange(const std::string& data_path);

// The raw value a network input came from: exact for integer grids (the nearest integer whose
// mapped input is `x`; nullopt when none is), otherwise (x - O) / S.
std::optional<double> RawFromInput(const RawInputMap& map, float x);

// Raw bounds of the ball around `raw` (one per input), clipped; lower > upper never happens for a
// raw value inside the clip range.
struct RawBall {
  std::vector<double> lower;
  std::vector<double> upper;
};
RawBall MakeRawBall(const RawInputMap& map, const std::vector<double>& raw, double radius);

// The box of network inputs the ball reaches, as exact rationals of the float32 bounds.
InputBox InputBoxOfBall(const RawInputMap& map, const RawBall& ball);

// The unsafe set "the decision is not `target`" over `box` (see the header comment).
Property DecisionChangeProperty(int num_outputs, int target, Decision decision, const InputBox& box,
                                const std::string& name);

// The input code of coordinate `i` at every grid value lower[i], lower[i] + 1, ..., upper[i] of
// `ball` (input coding is per coordinate: the other coordinates do not matter). Monotone.
std::vector<int64_t> GridCodes(const QuantizedNetwork& network, const RawInputMap& map,
                               const RawBall& ball, int64_t i);

}  // namespace qrepair
