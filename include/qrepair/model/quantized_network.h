// The quantized network: integer weights, biases and activation codes with their scales.
// Its semantics are those of integer_forward.h; this file only holds the values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qrepair/model/network.h"
#include "qrepair/quant/integer_ops.h"
#include "qrepair/quant/quant_config.h"

namespace qrepair {

// How an activation tensor is coded: real = scale * (code - zero_point), code in [Min(), Max()].
// Symmetric codes (signed, or unsigned after ReLU) have zero point 0; asymmetric ones
// ("activations": {"symmetric": false}) the integer code of real 0, so 0 is exactly represented.
struct ActivationCode {
  double scale = 1.0;
  int bits = 8;  // 32 for the final logits
  bool is_signed = false;
  int64_t zero_point = 0;  // in [Min(), Max()]
  int64_t Min() const { return is_signed ? SignedMin(bits) : 0; }
  int64_t Max() const { return is_signed ? SignedMax(bits) : UnsignedMax(bits); }
};

enum class QActivation { kNone, kRelu, kLeakyRelu };

// One integer operation. Linear layers carry their activation function fused in.
struct QuantLayer {
  LayerKind kind = LayerKind::kDense;  // kDense, kConv2d, kMaxPool, kAvgPool, kFlatten, kRelu
  std::string name;                    // the float layer's name (the linear one when fused)
  Shape input_shape;
  Shape output_shape;
  Window window;
  QActivation activation = QActivation::kNone;
  float leaky_alpha = 0.0f;

  // Linear layers only.
  int weight_bits = 8;
  Granularity granularity = Granularity::kPerTensor;
  ScaleRule scale_rule = ScaleRule::kMaxAbs;  // the rule quantize chose the weight scales by
  std::vector<double> weight_scales;          // 1 (per-tensor) or one per output unit
  std::vector<int32_t> weights_q;             // same layout as the float layer's weights
  std::vector<int64_t> bias_q;                // at scale weight_scale * input.scale, int32 range
  std::vector<float> bias_float;              // weights-only mode: the float bias, unquantized
  std::vector<FixedPointMultiplier> requant;  // per unit: weight_scale*input.scale/output.scale
  std::vector<FixedPointMultiplier> requant_neg;  // LeakyReLU negative side: requant * alpha

  ActivationCode input;   // code of this layer's input
  ActivationCode output;  // code of this layer's output
  // How requantization and average pooling round (the network's mode, kept per layer so that a
  // layer runs alone).
  RoundingMode rounding = RoundingMode::kHalfEven;

  bool IsLinear() const { return kind == LayerKind::kDense || kind == LayerKind::kConv2d; }
  int Units() const { return output_shape.channels; }
  int64_t FanIn() const;
  double WeightScale(int unit) const {
    return weight_scales.size() == 1 ? weight_scales[0] : weight_scales[unit];
  }
  int64_t WeightMin() const { return SignedMin(weight_bits); }
  int64_t WeightMax() const { return SignedMax(weight_bits); }
  // Recomputes requant/requant_neg from the scales (after scales change).
  void UpdateMultipliers();
};

struct QuantizedNetwork {
  std::string name;
  Shape input_shape;
  // Input mapping before the first integer layer: code = sat(round(((x - offset)/divisor)/scale))
  // in the network's rounding mode (RoundReal).
  std::vector<float> input_offset;  // empty, 1 or input size (from a leading Normalize)
  std::vector<float> input_divisor;
  ActivationCode input;
  std::vector<QuantLayer> layers;
  // The recipe it was quantized by, kept for the record (the model file); later stages read the
  // facts below and in the layers, never the recipe.
  QuantConfig config;
  // Which output is the decision (argmin networks run negated: OrientForDecision).
  Decision decision = Decision::kArgmax;

  // Weights-only mode: integer weights, float activations (input and requant unused). The one
  // fact for "activation_bits == 0"; otherwise the activation bits are input.bits.
  bool float_activations = false;
  // The rounding of the input coding and of every layer (each QuantLayer::rounding equals it).
  RoundingMode rounding = RoundingMode::kHalfEven;

  int NumClasses() const {
    return layers.empty() ? 0 : static_cast<int>(layers.back().output_shape.Size());
  }
  // Index of the last linear layer (the logits), or -1.
  int LogitLayer() const;
};

}  // namespace qrepair
