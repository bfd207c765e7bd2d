// Round-to-nearest post-training quantization of a float network.
#pragma once

#include "qrepair/forward.h"
#include "qrepair/network.h"
#include "qrepair/quant_config.h"
#include "qrepair/quantized_network.h"

namespace qrepair {

// Weight scales come from max|w| (per tensor or per output unit), activation scales from the
// float network's activations on `calibration` (its max, or max|x| for signed codes). Linear
// layers absorb the ReLU/LeakyReLU that follows them; a leading Normalize becomes the input
// mapping. Throws Error(kBadInput) naming `source` for what has no integer semantics (Sigmoid
// with integer activations, Normalize after the first layer).
QuantizedNetwork QuantizeNetwork(const Network& network, const QuantConfig& config,
                                 const FloatBatch& calibration, const std::string& source);

// Scale for codes in [-qmax, qmax] (or [0, qmax]) covering `max_abs`, by the config's rule.
double ChooseScale(double max_abs, int64_t qmax, ScaleRule rule);

// Re-derives a linear layer's integer weights from float weights by round-to-nearest at the
// layer's current scales (used by quantization and by the GPTQ-style initializers).
void RoundWeights(QuantLayer& layer, const std::vector<float>& weights, const std::vector<float>& bias);

}  // namespace qrepair
