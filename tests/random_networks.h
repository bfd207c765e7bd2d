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

// Perturbs integer weights and biases inside their ranges (so the cases are not only RTN).
void PerturbWeights(QuantizedNetwork& q, std::mt19937_64& rng);

}  // namespace qrepair::testing
