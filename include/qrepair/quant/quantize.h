// Round-to-nearest post-training quantization of a float network.
#pragma once

#include <cstdint>
#include <vector>

#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quant_config.h"

namespace qrepair {

// Weight scales come from WeightScales (max|w| per tensor or per output unit, by the config's
// rule), activation scales from the float network's activations on `calibration` (its max, or
// max|x| for signed codes). Linear
// layers absorb the ReLU/LeakyReLU that follows them; a leading Normalize becomes the input
// mapping. Throws Error(kBadInput) naming `source` for what has no integer semantics (Sigmoid
// with integer activations, Normalize after the first layer).
QuantizedNetwork QuantizeNetwork(const Network& network, const QuantConfig& config,
                                 const FloatBatch& calibration, const std::string& source);

// The stand-in float network of an integer network that has none behind it (Network::stand_in):
// each linear layer's integer weights times their scale, its bias code times the accumulator's
// scale, its fused activation as a layer of its own, the input mapping as a leading Normalize.
// In the integer network's orientation (outputs_negated for an argmin decision). Throws
// Error(kBadInput) naming `source` when the shapes do not chain.
Network StandInNetwork(const QuantizedNetwork& network, const std::string& source);

// A linear layer's weight scales under `spec`: one (per tensor) or one per output unit. The
// "mse" rule gives the max-abs scale times the factor in 1.00, 0.99, ..., 0.20 that minimizes the
// weights' squared rounding error (per tensor or per unit).
std::vector<double> WeightScales(const Layer& layer, const LayerQuantSpec& spec);

// The code of a logits layer's output (a linear layer with no fused activation, the last one):
// int32, one scale for every unit so that argmax is an integer comparison. The scale is the
// smallest weight scale times the input scale (every multiplier >= 1; a per-tensor logit is its
// accumulator), unless logits of kLogitHeadroom x `logit_abs_max` (the largest |logit| seen in
// calibration) would not fit int32 there, as with 16-bit weights and activations or a per-channel
// row of near-zero weights; then it is the smallest scale where they fit.
// With `logit_bits` < 32 ("logits": {"bits": N}) the logits are requantized and saturated to
// signed N-bit codes at the scale `rule` gives the calibrated |logit| max, like hidden layers.
constexpr double kLogitHeadroom = 4.0;
ActivationCode LogitCode(const QuantLayer& q, double logit_abs_max, int logit_bits = 32,
                         ScaleRule rule = ScaleRule::kMaxAbs);

// Raises weight scales (one per tensor, or one per unit) so that every bias code, the float bias
// over weight scale x `input_scale`, stays within +-2^30 (half the int32 range): a unit with a
// large bias and small weights (at 16 bits, or per channel) would otherwise saturate its bias.
void RaiseScalesForBias(std::vector<double>& scales, const Layer& layer, double input_scale);

// Scale for codes in [-qmax, qmax] (or [0, qmax]) covering `max_abs`, by the config's rule
// ("mse" gives the max-abs scale here; WeightScales searches its factor).
double ChooseScale(double max_abs, int64_t qmax, ScaleRule rule);

// Re-derives a linear layer's integer weights from float weights by round-to-nearest at the
// layer's current scales (used by quantization and by the GPTQ-style initializers).
void RoundWeights(QuantLayer& layer, const std::vector<float>& weights,
                  const std::vector<float>& bias);

// A bias's integer code at the accumulator's scale (weight scale x input scale), rounded half to
// even and saturated to int32 (RaiseScalesForBias keeps it away from the limits).
int64_t BiasCode(double bias, double weight_scale, double input_scale);

}  // namespace qrepair
