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

// The semantics the property tests cross: every rounding mode, with and without zero points and
// requantized logits; `index` picks one of the 16 (kSemanticsCount) combinations.
constexpr int kSemanticsCount = 16;
inline void SetSemantics(QuantConfig& config, int index) {
  config.rounding = kAllRoundingModes[index % 4];
  config.activation_symmetric = (index / 4) % 2 == 0;
  config.logit_bits = (index / 8) % 2 == 0 ? 32 : 4 + index % 5;
}

// Perturbs integer weights and biases inside their ranges (so the cases are not only RTN).
void PerturbWeights(QuantizedNetwork& q, std::mt19937_64& rng);

}  // namespace qrepair::testing
