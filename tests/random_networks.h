// Random float networks and their quantized versions, for property tests of the integer pass,
// the encoders and the exporters.
#pragma once

#include <random>

#include "qrepair/model/network.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"

namespace qrepair::testing {

struct RandomCase {
  Network network;
  QuantizedNetwork quantized;
  FloatBatch inputs;
};

// A random chain: optional conv (+relu/leaky, pool) then dense layers; random widths, bits,
// granularity and scale rule. `conv` forces a convolutional front.
RandomCase MakeRandomCase(std::mt19937_64& rng, int samples, bool conv);

// The case's network quantized again with its config changed by `change` (a rounding mode, ...):
// the other semantics through the config, as a user picks them.
template <typename Change>
QuantizedNetwork QuantizedWith(const RandomCase& c, Change change) {
  QuantConfig config = c.quantized.config;
  change(config);
  return QuantizeNetwork(c.network, config, c.inputs, "random");
}

inline constexpr RoundingMode kAllRoundingModes[] = {
    RoundingMode::kHalfEven, RoundingMode::kHalfAway, RoundingMode::kHalfUp, RoundingMode::kTflite};

// The semantics the property tests cross: every rounding mode; symmetric codes, unsigned codes
// with a zero point (ONNX Runtime's uint8) or signed ones (TFLite's int8); int32 or requantized
// logits. `index` picks one of the 24 (kSemanticsCount) combinations; those from
// kRequantizedLogitsFrom on requantize the logits.
constexpr int kSemanticsCount = 24;
constexpr int kRequantizedLogitsFrom = 12;
inline void SetSemantics(QuantConfig& config, int index) {
  config.rounding = kAllRoundingModes[index % 4];
  config.activation_symmetric = (index / 4) % 3 == 0;
  config.activation_signed = (index / 4) % 3 == 2;
  config.logit_bits = index < kRequantizedLogitsFrom ? 32 : 4 + index % 5;
}

// Perturbs integer weights and biases inside their ranges (so the cases are not only RTN).
void PerturbWeights(QuantizedNetwork& q, std::mt19937_64& rng);

}  // namespace qrepair::testing
