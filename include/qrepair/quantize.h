// Round-to-nearest post-training quantization of a float network.
#pragma once

#include <vector>

#include "qrepair/forward.h"
#include "qrepair/network.h"
#include "qrepair/quant_config.h"
#include "qrepair/quantized_network.h"

namespace qrepair {

// Weight scales come from WeightScales (max|w| per tensor or per output unit, by the config's
// rule), activation scales from the float network's activations on `calibration` (its max, or
// max|x| for signed codes). Linear
// layers absorb the ReLU/LeakyReLU that follows them; a leading Normalize becomes the input
// mapping. Throws Error(kBadInput) naming `source` for what has no integer semantics (Sigmoid
// with integer activations, Normalize after the first layer).
QuantizedNetwork QuantizeNetwork(const Network& network, const QuantConfig& config,
                                 const FloatBatch& calibration, const std::string& source);

// A linear layer's weight scales under `spec`: one (per tensor) or one per output unit. The
// "mse" rule gives the max-abs scale times the factor in 1.00, 0.99, ..., 0.20 that minimizes the
// weights' squared rounding error (per tensor or per unit).
std::vector<double> WeightScales(const Layer& layer, const LayerQuantSpec& spec);

// The code of a logits layer's output (a linear layer with no fused activation, the last one):
// int32 at its smallest weight scale times its input scale, one scale for every unit so that
// argmax is an integer comparison.
ActivationCode LogitCode(const QuantLayer& q);

// Scale for codes in [-qmax, qmax] (or [0, qmax]) covering `max_abs`, by the config's rule
// ("mse" gives the max-abs scale here; WeightScales searches its factor).
double ChooseScale(double max_abs, int64_t qmax, ScaleRule rule);

// Re-derives a linear layer's integer weights from float weights by round-to-nearest at the
// layer's current scales (used by quantization and by the GPTQ-style initializers).
void RoundWeights(QuantLayer& layer, const std::vector<float>& weights, const std::vector<float>& bias);

}  // namespace qrepair
