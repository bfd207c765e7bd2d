// Random small integer networks, boxes and output properties for the verifier's tests: small
// enough that every input code of a box can be enumerated with the reference pass, and an
// oracle that decides a property by that enumeration with exact rationals (independent of the
// engine's own integer form of the constraints).
#pragma once

#include <gmpxx.h>

#include <optional>
#include <random>
#include <vector>

#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"
#include "qrepair/verify/property.h"

namespace qrepair::testing {

struct NetworkShape {
  int min_inputs = 2, max_inputs = 6;
  int min_hidden = 2, max_hidden = 3;  // hidden layers
  int max_units = 12;
  bool small_logits = true;  // half the time requantize and saturate the last layer to 2..8 bits
  bool asymmetric = true;    // half the time, zero points drawn in every activation's range
};

// A dense chain with random 2..8-bit codes, per-tensor or per-channel weights, ReLU or none,
// random multipliers (saturation is common), argmax or argmin, a random rounding mode (all four
// equally often), symmetric or asymmetric activations, int32 or requantized logits.
QuantizedNetwork MakeRandomIntegerNetwork(std::mt19937_64& rng, const NetworkShape& shape = {});

// A box of reals whose code box has at most `max_points` points, its ends exact float32 values.
InputBox MakeRandomBox(std::mt19937_64& rng, const QuantizedNetwork& q, double max_points);

// 1..3 regions (the first box given), each with 1..3 clauses of 1..3 constraints, bounds drawn
// near the outputs of random points of the box so that both verdicts occur.
Property MakeRandomProperty(std::mt19937_64& rng, const QuantizedNetwork& q, int max_regions,
                            double max_points);

// Y_j = S (y_j - z) of the reference pass's logit codes, as exact rationals (file orientation).
std::vector<mpq_class> ExactOutputs(const QuantizedNetwork& q, const std::vector<int64_t>& logits);
bool ClauseHoldsExactly(const OutputClause& clause, const std::vector<mpq_class>& y);

struct OracleAnswer {
  bool violated = false;
  int64_t points = 0;
};
// Enumerates every input code of every region's box (code(f32(lower)) .. code(f32(upper)); the
// ends are float32 values here) with the reference pass.
OracleAnswer EnumerateProperty(const QuantizedNetwork& q, const Property& p);

}  // namespace qrepair::testing
