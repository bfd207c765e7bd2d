// The reference integer forward pass (semantics documented in forward.h and integer_ops.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "quant/im2col.h"
#include "quant/integer_gemm.h"
#include "quant/kernels/parallel.h"

namespace qrepair {

using Int64Batch = Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic>;

int64_t QuantLayer::FanIn() const {
  if (kind == LayerKind::kDense) return input_shape.Size();
  if (kind == LayerKind::kConv2d)
    return int64_t{input_shape.channels} * window.kernel_h * window.kernel_w;
  return 0;
}

void QuantLayer::UpdateMultipliers() {
  if (!IsLinear()) return;
  requant.assign(Units(), FixedPointMultiplier{});
  requant_neg.assign(activation == QActivation::kLeakyRelu ? Units() : 0, FixedPointMultiplier{});
  for (int u = 0; u < Units(); ++u) {
    double real = WeightScale(u) * input.scale / output.scale;
    requant[u] = MakeMultiplier(real);
    if (activation == QActivation::kLeakyRelu) requant_neg[u] = MakeMultiplier(real * leaky_alpha);
  }
}

int QuantizedNetwork::LogitLayer() const {
  for (int i = static_cast<int>(layers.size()) - 1; i >= 0; --i) {
    if (layers[i].IsLinear()) return i;
  }
  return -1;
}

CodeBatch QuantizeInput(const QuantizedNetwork& network, const FloatBatch& input) {
  CodeBatch codes(input.rows(), input.cols());
  const auto& off = network.input_offset;
  const auto& div = network.input_divisor;
  const int64_t lo = network.input.Min(), hi = network.input.Max();
  for (int64_t s = 0; s < input.cols(); ++s) {
    for (int64_t i = 0; i < input.rows(); ++i) {
      float x = input(i, s);
      if (!off.empty())
        x = (x - (off.size() == 1 ? off[0] : off[i])) / (div.size() == 1 ? div[0] : div[i]);
      double q = RoundReal(static_cast<double>(x) / network.input.scale, network.rounding) +
                 static_cast<double>(network.input.zero_point);
      q = std::min(std::max(q, static_cast<double>(lo)), static_cast<double>(hi));
      codes(i, s) = static_cast<int32_t>(q);
    }
  }
  return codes;
}

double AccumulatorBound(const QuantLayer& layer) {
  int64_t w_max = 0;
  for (int32_t w : layer.weights_q) w_max = std::max<int64_t>(w_max, std::abs(int64_t{w}));
  int64_t b_max = 0;
  for (int64_t b : layer.bias_q) b_max = std::max<int64_t>(b_max, b < 0 ? -b : b);
  const int64_t zp = layer.input.zero_point;  // the accumulation sees code - zero point
  double x_max = static_cast<double>(std::max(zp - layer.input.Min(), layer.input.Max() - zp));
  return static_cast<double>(w_max) * x_max * static_cast<double>(layer.FanIn()) +
         static_cast<double>(b_max);
}

void CheckIntegerRanges(const QuantLayer& layer, const std::string& source,
                        const std::string& place) {
  if (!layer.IsLinear()) return;
  const double bound = AccumulatorBound(layer);
  double multiplier = 0;
  for (const auto* list : {&layer.requant, &layer.requant_neg}) {
    for (const FixedPointMultiplier& f : *list) {
      if (f.m < 0 || f.m > INT32_MAX || f.shift < 0 || f.shift > 62) {
        throw BadInput(source, place,
                       "requantization multiplier " + std::to_string(f.Value()) +
                           " is outside the fixed-point range (m < 2^31, shift 0..62)");
      }
      multiplier = std::max(multiplier, f.Value());
    }
  }
  if (bound >= 9007199254740992.0 || bound * multiplier >= 4611686018427387904.0) {  // 2^53, 2^62
    throw BadInput(source, place,
                   "accumulators (up to " + std::to_string(bound) +
                       ") or requantized values exceed the integer pass's range (2^53, 2^62)");
  }
}

namespace {

template <typename T>
Int64Batch AccumulatorsAs(const QuantLayer& layer, const CodeBatch& input) {
  using M = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using RowM = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Shape& out = layer.output_shape;
  const int64_t n = input.cols();
  RowM w =
      Eigen::Map<const Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          layer.weights_q.data(), layer.Units(), layer.FanIn())
          .template cast<T>();
  M x = input.cast<T>();
  Int64Batch acc(out.Size(), n);
  if (layer.kind == LayerKind::kDense) {
    M y = w * x;
    for (int64_t s = 0; s < n; ++s) {
      for (int u = 0; u < layer.Units(); ++u)
        acc(u, s) = static_cast<int64_t>(y(u, s)) + layer.bias_q[u];
    }
    return acc;
  }
  const int64_t positions = int64_t{out.height} * out.width;
  M cols;
  M y;
  for (int64_t s = 0; s < n; ++s) {
    Im2ColT<T>(x.col(s).data(), layer.input_shape, layer.window, out, cols);
    y.noalias() = w * cols;  // units x positions
    for (int u = 0; u < layer.Units(); ++u) {
      for (int64_t p = 0; p < positions; ++p) {
        acc(u * positions + p, s) = static_cast<int64_t>(y(u, p)) + layer.bias_q[u];
      }
    }
  }
  return acc;
}

}  // namespace

Int64Batch LinearAccumulators(const QuantLayer& layer, const CodeBatch& input) {
  Int64Batch acc;
  if (IntegerGemmAccumulators(layer, input, &acc)) return acc;  // int32 sums, proved exact
  // Wide codes or sums: integers below 2^53 are exact in double (2^24 in float).
  double bound = AccumulatorBound(layer);
  if (bound < 16777216.0) return AccumulatorsAs<float>(layer, input);  // 2^24: exact in float
  if (bound < 9007199254740992.0) return AccumulatorsAs<double>(layer, input);  // 2^53
  throw InternalError("layer '" + layer.name + "': accumulator may exceed 2^53");
}

int64_t AverageCode(int64_t sum, int64_t count, const QuantLayer& layer) {
  // TFLite's integer AveragePool averages the codes themselves (input and output share scale and
  // zero point); the others average the real values: zp + round(sum(code - zp) / count), which
  // differs from rounding sum / count when a tie meets an odd zero point.
  if (layer.rounding == RoundingMode::kTflite) return RoundingDivide(sum, count, layer.rounding);
  const int64_t zp = layer.input.zero_point;
  return zp + RoundingDivide(sum - zp * count, count, layer.rounding);
}

int32_t RequantizeUnit(const QuantLayer& layer, int unit, int64_t acc) {
  int64_t v;
  switch (layer.activation) {
    case QActivation::kRelu:
      v = Requantize(std::max<int64_t>(acc, 0), layer.requant[unit], layer.rounding);
      break;
    case QActivation::kLeakyRelu:
      v = acc >= 0 ? Requantize(acc, layer.requant[unit], layer.rounding)
                   : Requantize(acc, layer.requant_neg[unit], layer.rounding);
      break;
    default:
      v = Requantize(acc, layer.requant[unit], layer.rounding);
  }
  return static_cast<int32_t>(
      Saturate(v + layer.output.zero_point, layer.output.Min(), layer.output.Max()));
}

namespace {

CodeBatch ForwardIntegerLayerSerial(const QuantLayer& layer, const CodeBatch& input) {
  const Shape& in = layer.input_shape;
  const Shape& out = layer.output_shape;
  const int64_t n = input.cols();
  switch (layer.kind) {
    case LayerKind::kDense:
    case LayerKind::kConv2d: {
      // Real inputs are s_x * (x_q - zp): the products take the centered codes (a convolution's
      // zero padding is then real 0), the bias stays at s_w * s_x.
      const int32_t zp = static_cast<int32_t>(layer.input.zero_point);
      Int64Batch acc = LinearAccumulators(layer, zp == 0 ? input : CodeBatch(input.array() - zp));
      const int64_t positions = int64_t{out.height} * out.width;
      CodeBatch y(acc.rows(), n);
      for (int64_t s = 0; s < n; ++s) {
        for (int64_t r = 0; r < acc.rows(); ++r) {
          y(r, s) = RequantizeUnit(layer, static_cast<int>(r / positions), acc(r, s));
        }
      }
      return y;
    }
    case LayerKind::kRelu:  // real max(x, 0): the code of real 0 is the zero point
      return input.cwiseMax(static_cast<int32_t>(layer.input.zero_point));
    case LayerKind::kMaxPool:
    case LayerKind::kAvgPool: {
      CodeBatch y(out.Size(), n);
      const Window& w = layer.window;
      bool is_max = layer.kind == LayerKind::kMaxPool;
      for (int64_t s = 0; s < n; ++s) {
        const int32_t* x = input.col(s).data();
        for (int c = 0; c < in.channels; ++c) {
          for (int oh = 0; oh < out.height; ++oh) {
            for (int ow = 0; ow < out.width; ++ow) {
              int h0 = std::max(0, oh * w.stride_h - w.pad_top);
              int h1 = std::min(in.height, oh * w.stride_h - w.pad_top + w.kernel_h);
              int w0 = std::max(0, ow * w.stride_w - w.pad_left);
              int w1 = std::min(in.width, ow * w.stride_w - w.pad_left + w.kernel_w);
              int64_t acc = is_max ? std::numeric_limits<int64_t>::min() : 0;
              for (int h = h0; h < h1; ++h) {
                for (int ww = w0; ww < w1; ++ww) {
                  int64_t v = x[(int64_t{c} * in.height + h) * in.width + ww];
                  acc = is_max ? std::max(acc, v) : acc + v;
                }
              }
              if (!is_max) acc = AverageCode(acc, int64_t{h1 - h0} * (w1 - w0), layer);
              y((int64_t{c} * out.height + oh) * out.width + ow, s) = static_cast<int32_t>(acc);
            }
          }
        }
      }
      return y;
    }
    case LayerKind::kFlatten:
      return input;
    default:
      throw InternalError(std::string("layer '") + layer.name + "': " + LayerKindName(layer.kind) +
                          " has no integer semantics");
  }
}

}  // namespace

// Samples are independent, so the batch is split over the compute threads (results do not
// depend on the split).
CodeBatch ForwardIntegerLayer(const QuantLayer& layer, const CodeBatch& input) {
  return kernels::ChunkedLayer(layer.output_shape.Size(), input, [&](const CodeBatch& chunk) {
    return ForwardIntegerLayerSerial(layer, chunk);
  });
}

CodeBatch ForwardInteger(const QuantizedNetwork& network, const CodeBatch& input_codes,
                         std::vector<CodeBatch>* trace) {
  return kernels::ForwardChain(network.layers, input_codes, trace,
                               [](const QuantLayer& layer, const CodeBatch& x) {
                                 return ForwardIntegerLayerSerial(layer, x);
                               });
}

Layer DequantizedLayer(const QuantLayer& q) {
  Layer layer;
  layer.kind = q.kind;
  layer.name = q.name;
  layer.input_shape = q.input_shape;
  layer.output_shape = q.output_shape;
  layer.window = q.window;
  layer.alpha = q.leaky_alpha;
  if (q.IsLinear()) {
    const int64_t fan_in = q.FanIn();
    layer.weights.resize(q.weights_q.size());
    for (size_t i = 0; i < q.weights_q.size(); ++i) {
      layer.weights[i] =
          static_cast<float>(q.weights_q[i] * q.WeightScale(static_cast<int>(i / fan_in)));
    }
    layer.bias = q.bias_float;
  }
  return layer;
}

Network DequantizedNetwork(const QuantizedNetwork& network) {
  Network net;
  net.input_shape = network.input_shape;
  if (!network.input_offset.empty()) {
    Layer norm;
    norm.kind = LayerKind::kNormalize;
    norm.name = "input";
    norm.input_shape = norm.output_shape = network.input_shape;
    norm.offset = network.input_offset;
    norm.divisor = network.input_divisor;
    net.layers.push_back(norm);
  }
  for (const QuantLayer& q : network.layers) net.layers.push_back(DequantizedLayer(q));
  return net;
}

FloatBatch ForwardWeightsOnly(const QuantizedNetwork& network, const FloatBatch& input) {
  return ForwardFloat(DequantizedNetwork(network), input);
}

std::vector<int> PredictQuantized(const QuantizedNetwork& network, const FloatBatch& input) {
  if (network.float_activations) return ArgmaxColumns(ForwardWeightsOnly(network, input));
  return ArgmaxColumns(ForwardInteger(network, QuantizeInput(network, input)));
}

}  // namespace qrepair
