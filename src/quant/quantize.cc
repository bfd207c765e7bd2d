// Round-to-nearest quantization: scales, integer weights and biases, fused activations.
#include "qrepair/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "qrepair/error.h"

namespace qrepair {

double ChooseScale(double max_abs, int64_t qmax, ScaleRule rule) {
  if (!(max_abs > 0.0)) max_abs = 1e-8;  // all-zero tensor: any scale works, keep it finite
  double scale = max_abs / static_cast<double>(qmax);
  if (rule == ScaleRule::kPowerOfTwo) {
    // Qm.n: scale 2^-n with the largest n such that qmax * 2^-n still covers max_abs.
    scale = std::ldexp(1.0, static_cast<int>(std::ceil(std::log2(scale))));
  }
  return scale;
}

void RoundWeights(QuantLayer& layer, const std::vector<float>& weights,
                  const std::vector<float>& bias) {
  const int64_t fan_in = layer.FanIn();
  layer.weights_q.resize(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    double s = layer.WeightScale(static_cast<int>(i / fan_in));
    double q = RoundHalfEven(weights[i] / s);
    layer.weights_q[i] = static_cast<int32_t>(
        Saturate(static_cast<int64_t>(q), layer.WeightMin(), layer.WeightMax()));
  }
  layer.bias_float = bias;
  layer.bias_q.assign(bias.size(), 0);
  for (size_t u = 0; u < bias.size(); ++u) {
    layer.bias_q[u] = BiasCode(bias[u], layer.WeightScale(static_cast<int>(u)), layer.input.scale);
  }
}

int64_t BiasCode(double bias, double weight_scale, double input_scale) {
  const double code = RoundHalfEven(bias / (weight_scale * input_scale));
  return static_cast<int64_t>(std::clamp(code, -2147483648.0, 2147483647.0));
}

namespace {

struct Range {
  double lo = 0.0;
  double hi = 0.0;
};

// Each layer's output range over the calibration samples, computed in chunks so that memory
// stays bounded whatever the number of samples. ranges[0] is the input, ranges[i+1] layer i.
std::vector<Range> LayerRanges(const Network& network, const FloatBatch& calibration) {
  std::vector<Range> ranges(network.layers.size() + 1);
  const int64_t chunk = 2048;
  bool first = true;
  for (int64_t begin = 0; begin < calibration.cols(); begin += chunk) {
    int64_t n = std::min(chunk, calibration.cols() - begin);
    FloatBatch x = calibration.middleCols(begin, n);
    auto update = [&](size_t i, const FloatBatch& v) {
      if (v.size() == 0) return;
      double lo = v.minCoeff(), hi = v.maxCoeff();
      ranges[i].lo = first ? lo : std::min(ranges[i].lo, lo);
      ranges[i].hi = first ? hi : std::max(ranges[i].hi, hi);
    };
    update(0, x);
    for (size_t i = 0; i < network.layers.size(); ++i) {
      x = ForwardFloatLayer(network.layers[i], x);
      update(i + 1, x);
    }
    first = false;
  }
  return ranges;
}

// The code of a calibrated range. Symmetric: signed when forced or when the range reaches below
// 0, zero point 0. Asymmetric (ONNX Runtime's uint8 QDQ, TFLite's affine codes): unsigned codes
// over [min(lo, 0), max(hi, 0)], scale = width / (2^b - 1) and zero point round(-lo / scale), an
// integer code, so real 0 is exactly representable (ReLU outputs get zero point 0: the same code
// as symmetric).
ActivationCode CodeFor(const Range& range, int bits, bool force_signed, ScaleRule rule,
                       bool symmetric, bool asymmetric_signed) {
  ActivationCode code;
  code.bits = bits;
  double lo = range.lo;
  double hi = range.hi;
  if (!symmetric) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
    // The same 2^b levels either way; signed codes (TFLite's int8) are the unsigned ones shifted
    // down by 2^(b-1), zero point included.
    const int64_t levels = UnsignedMax(bits);
    code.is_signed = asymmetric_signed;
    code.scale = ChooseScale(hi - lo, levels, rule);
    code.zero_point =
        std::clamp<int64_t>(static_cast<int64_t>(RoundHalfEven(-lo / code.scale)), 0, levels) +
        code.Min();
    return code;
  }
  code.is_signed = force_signed || lo < 0.0;
  double max_abs = std::max(std::abs(lo), std::abs(hi));
  code.scale = ChooseScale(max_abs, code.Max(), rule);
  return code;
}

// The factors of the max-abs scale the "mse" rule tries: 1.00, 0.99, ..., 0.20.
constexpr int kMseFactorSteps = 81;
constexpr double kMseLowestFactor = 0.2;

// The factor of that grid minimizing sum (w - s f clamp(rhe(w / (s f)), -qmax, qmax))^2
// over the `n` weights at `w` (Nagel et al. 2021, "A White Paper on Neural Network
// Quantization", section 3.4: MSE range setting). Ties go to the larger factor (less clipping).
double MseFactor(const float* w, int64_t n, double scale, int64_t qmax) {
  double best_error = std::numeric_limits<double>::infinity();
  double best = 1.0;
  for (int k = 0; k < kMseFactorSteps; ++k) {
    const double f = 1.0 - (1.0 - kMseLowestFactor) * k / (kMseFactorSteps - 1);
    const double s = scale * f;
    double error = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double x = w[i];
      const double q =
          std::clamp(RoundHalfEven(x / s), -static_cast<double>(qmax), static_cast<double>(qmax));
      error += (x - q * s) * (x - q * s);
    }
    if (error < best_error) {
      best_error = error;
      best = f;
    }
  }
  return best;
}

// The scale of the `n` weights at `w` (a whole tensor, or one unit's row) under `rule`.
double ScaleOf(const float* w, int64_t n, int64_t qmax, ScaleRule rule) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::abs(w[i])));
  const double scale = ChooseScale(m, qmax, rule);  // max-abs for kMse
  return rule == ScaleRule::kMse ? scale * MseFactor(w, n, scale, qmax) : scale;
}

void SetWeightScales(QuantLayer& q, const Layer& layer, const LayerQuantSpec& spec) {
  q.weight_bits = spec.weight_bits;
  q.granularity = spec.granularity;
  q.scale_rule = spec.scale_rule;
  q.weight_scales = WeightScales(layer, spec);
}

}  // namespace

ActivationCode LogitCode(const QuantLayer& q, double logit_abs_max, int logit_bits,
                         ScaleRule rule) {
  if (logit_bits < 32) {  // requantized like a hidden layer: symmetric signed codes
    ActivationCode code{1.0, logit_bits, true};
    code.scale = ChooseScale(logit_abs_max, code.Max(), rule);
    return code;
  }
  const double s_min = *std::min_element(q.weight_scales.begin(), q.weight_scales.end());
  const double fits = kLogitHeadroom * logit_abs_max / 2147483647.0;
  return ActivationCode{std::max(s_min * q.input.scale, fits), 32, true};
}

void RaiseScalesForBias(std::vector<double>& scales, const Layer& layer, double input_scale) {
  constexpr double kBiasCodeMax = 1073741824.0;  // 2^30
  for (size_t u = 0; u < layer.bias.size(); ++u) {
    double& s = scales[scales.size() == 1 ? 0 : u];
    s = std::max(s, std::abs(static_cast<double>(layer.bias[u])) / (input_scale * kBiasCodeMax));
  }
}

std::vector<double> WeightScales(const Layer& layer, const LayerQuantSpec& spec) {
  const int64_t qmax = SignedMax(spec.weight_bits);
  if (spec.granularity == Granularity::kPerTensor) {
    return {ScaleOf(layer.weights.data(), static_cast<int64_t>(layer.weights.size()), qmax,
                    spec.scale_rule)};
  }
  const int64_t fan_in = layer.FanIn();
  std::vector<double> scales(layer.Units());
  for (int u = 0; u < layer.Units(); ++u) {
    scales[u] = ScaleOf(layer.weights.data() + u * fan_in, fan_in, qmax, spec.scale_rule);
  }
  return scales;
}

Network StandInNetwork(const QuantizedNetwork& q, const std::string& source) {
  Network net;
  net.name = q.name;
  net.input_shape = q.input_shape;
  net.stand_in = true;
  net.outputs_negated = q.decision == Decision::kArgmin;
  if (!q.input_offset.empty()) {
    Layer norm;
    norm.kind = LayerKind::kNormalize;
    norm.name = "input_mapping";
    norm.offset = q.input_offset;
    norm.divisor = q.input_divisor;
    net.layers.push_back(std::move(norm));
  }
  for (const QuantLayer& ql : q.layers) {
    Layer l = DequantizedLayer(ql);
    if (ql.IsLinear() && !q.float_activations) {  // the bias code at the accumulator's scale
      l.bias.assign(static_cast<size_t>(ql.Units()), 0.0f);
      for (int u = 0; u < ql.Units(); ++u) {
        l.bias[u] = static_cast<float>(static_cast<double>(ql.bias_q[u]) * ql.WeightScale(u) *
                                       ql.input.scale);
      }
    }
    net.layers.push_back(std::move(l));
    if (ql.IsLinear() && ql.activation != QActivation::kNone) {
      Layer act;
      act.kind = ql.activation == QActivation::kRelu ? LayerKind::kRelu : LayerKind::kLeakyRelu;
      act.name = ql.name + "_activation";
      act.alpha = ql.leaky_alpha;
      net.layers.push_back(std::move(act));
    }
  }
  ValidateNetwork(net, source);
  return net;
}

QuantizedNetwork QuantizeNetwork(const Network& network, const QuantConfig& config,
                                 const FloatBatch& calibration, const std::string& source) {
  QuantizedNetwork qnet;
  qnet.name = network.name;
  qnet.input_shape = network.input_shape;
  qnet.config = config;
  qnet.float_activations = config.FloatActivations();
  qnet.rounding = config.rounding;
  qnet.decision = config.decision;
  const ScaleRule act_rule = config.defaults.scale_rule;

  const std::vector<Range> ranges = LayerRanges(network, calibration);

  size_t first = 0;
  if (!network.layers.empty() && network.layers[0].kind == LayerKind::kNormalize) {
    qnet.input_offset = network.layers[0].offset;
    qnet.input_divisor = network.layers[0].divisor;
    first = 1;
  }
  if (!qnet.float_activations)
    qnet.input = CodeFor(ranges[first], config.activation_bits, false, act_rule,
                         config.activation_symmetric, config.activation_signed);

  const int last_linear = network.LastLinearLayer();
  if (last_linear < 0)
    throw BadInput(source, "", "the network has no dense or convolution layer to quantize");
  // A per-layer override that names no layer is a typo, not something to ignore silently.
  for (const auto& [name, spec] : config.layers) {
    bool found = false;
    std::string names;
    for (const Layer& layer : network.layers) {
      if (!layer.IsLinear()) continue;
      found = found || layer.name == name;
      names += (names.empty() ? "" : ", ") + ("'" + layer.name + "'");
    }
    if (!found) {
      throw BadInput(config.source.empty() ? source : config.source, "$.layers." + name,
                     "no dense or convolution layer of " + source + " is named '" + name +
                         "'; its layers are " + names);
    }
  }

  ActivationCode current = qnet.input;
  for (size_t i = first; i < network.layers.size(); ++i) {
    const Layer& layer = network.layers[i];
    std::string where = "layer '" + layer.name + "' (" + LayerKindName(layer.kind) + ")";
    QuantLayer q;
    q.kind = layer.kind;
    q.name = layer.name;
    q.input_shape = layer.input_shape;
    q.output_shape = layer.output_shape;
    q.window = layer.window;
    q.leaky_alpha = layer.alpha;
    q.rounding = qnet.rounding;
    if (layer.kind == LayerKind::kNormalize) {
      throw BadInput(source, where, "input normalization is supported only as the first layer");
    }
    if (qnet.float_activations) {  // weights-only: mirror the float layers
      if (layer.IsLinear()) {
        SetWeightScales(q, layer, config.ForLayer(layer.name));
        q.input.scale = 1.0;
        RoundWeights(q, layer.weights, layer.bias);
        q.bias_q.clear();
      }
      qnet.layers.push_back(std::move(q));
      continue;
    }
    if (layer.kind == LayerKind::kSigmoid) {
      throw BadInput(source, where,
                     "sigmoid has no integer semantics; use \"activations\": \"float\" "
                     "(weights-only quantization) for this network");
    }
    if (layer.kind == LayerKind::kLeakyRelu && !(i > first && network.layers[i - 1].IsLinear())) {
      throw BadInput(source, where,
                     "leaky ReLU must follow a dense or convolution layer to be quantized");
    }
    if (layer.kind == LayerKind::kRelu && i > first && network.layers[i - 1].IsLinear()) {
      continue;  // fused into the linear layer before it
    }
    if (layer.kind == LayerKind::kLeakyRelu && layer.alpha < 0) {  // M * alpha < 0: no multiplier
      throw BadInput(source, where, "a leaky ReLU with a negative alpha has no integer semantics");
    }
    if (layer.kind == LayerKind::kLeakyRelu) continue;  // fused (checked above)
    q.input = current;
    q.output = current;
    if (layer.IsLinear()) {
      size_t out_index = i;  // the float tensor this layer's codes represent (after activation)
      if (i + 1 < network.layers.size()) {
        LayerKind next = network.layers[i + 1].kind;
        if (next == LayerKind::kRelu) {
          q.activation = QActivation::kRelu;
          out_index = i + 1;
        } else if (next == LayerKind::kLeakyRelu) {
          q.activation = QActivation::kLeakyRelu;
          q.leaky_alpha = network.layers[i + 1].alpha;
          out_index = i + 1;
        }
      }
      SetWeightScales(q, layer, config.ForLayer(layer.name));
      RaiseScalesForBias(q.weight_scales, layer, q.input.scale);
      if (static_cast<int>(i) == last_linear && out_index == i) {
        q.output = LogitCode(q, std::max(-ranges[out_index + 1].lo, ranges[out_index + 1].hi),
                             config.logit_bits, act_rule);
      } else {
        q.output = CodeFor(ranges[out_index + 1], config.activation_bits,
                           q.activation != QActivation::kRelu, act_rule,
                           config.activation_symmetric, config.activation_signed);
      }
      RoundWeights(q, layer.weights, layer.bias);
      q.UpdateMultipliers();
      for (const auto& m : q.requant) {
        if (m.m != 0 && m.shift == 0 && m.Value() >= 2147483648.0) {
          throw BadInput(source, where,
                         "requantization multiplier too large (scales inconsistent)");
        }
      }
    } else if (layer.kind == LayerKind::kRelu) {
      q.output = current;
      // Symmetric codes after max(x, 0) are non-negative; range kept. An asymmetric code keeps
      // its coding: ReLU is max(code, zero_point) on the same code.
      if (current.zero_point == 0 && config.activation_symmetric) q.output.is_signed = false;
    }
    current = q.output;
    qnet.layers.push_back(std::move(q));
  }
  return qnet;
}

}  // namespace qrepair
