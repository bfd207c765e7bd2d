// The batched margin backward pass (the maths is stated in margin_gradient.h).
#include "rank/margin_gradient.h"

#include <algorithm>
#include <limits>

#include "qrepair/error.h"

namespace qrepair {

namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// g *= f'(y) for the activation whose output is y.
void MultiplyByDerivative(LayerKind activation, float alpha, const FloatBatch& y, FloatBatch& g) {
  switch (activation) {
    case LayerKind::kRelu:
      g.array() *= (y.array() > 0.0f).cast<float>();
      return;
    case LayerKind::kLeakyRelu:
      g.array() *= y.array().unaryExpr([alpha](float v) { return v >= 0.0f ? 1.0f : alpha; });
      return;
    case LayerKind::kSigmoid:
      g.array() *= y.array() * (1.0f - y.array());
      return;
    default:
      return;
  }
}

LayerKind FusedActivation(const QuantLayer& layer) {
  switch (layer.activation) {
    case QActivation::kRelu:
      return LayerKind::kRelu;
    case QActivation::kLeakyRelu:
      return LayerKind::kLeakyRelu;
    default:
      return LayerKind::kFlatten;  // identity
  }
}

// Adds one sample's column gradients (in_c*kh*kw x positions) back onto its CHW input.
void Col2ImAdd(const Eigen::MatrixXf& cols, const Shape& in, const Window& w, const Shape& out,
               float* x) {
  for (int c = 0; c < in.channels; ++c) {
    for (int kh = 0; kh < w.kernel_h; ++kh) {
      for (int kw = 0; kw < w.kernel_w; ++kw) {
        int64_t row = (int64_t{c} * w.kernel_h + kh) * w.kernel_w + kw;
        for (int oh = 0; oh < out.height; ++oh) {
          int ih = oh * w.stride_h - w.pad_top + kh;
          if (ih < 0 || ih >= in.height) continue;
          for (int ow = 0; ow < out.width; ++ow) {
            int iw = ow * w.stride_w - w.pad_left + kw;
            if (iw < 0 || iw >= in.width) continue;
            x[(int64_t{c} * in.height + ih) * in.width + iw] +=
                cols(row, int64_t{oh} * out.width + ow);
          }
        }
      }
    }
  }
}

FloatBatch BackwardPool(const QuantLayer& layer, const FloatBatch& input, const FloatBatch& g) {
  const Shape& in = layer.input_shape;
  const Shape& out = layer.output_shape;
  const Window& w = layer.window;
  const bool is_max = layer.kind == LayerKind::kMaxPool;
  FloatBatch g_in = FloatBatch::Zero(in.Size(), g.cols());
  for (int64_t s = 0; s < g.cols(); ++s) {
    for (int c = 0; c < in.channels; ++c) {
      const int64_t plane = int64_t{c} * in.height * in.width;
      for (int oh = 0; oh < out.height; ++oh) {
        for (int ow = 0; ow < out.width; ++ow) {
          float grad = g((int64_t{c} * out.height + oh) * out.width + ow, s);
          if (grad == 0.0f) continue;
          int h0 = std::max(0, oh * w.stride_h - w.pad_top);
          int h1 = std::min(in.height, oh * w.stride_h - w.pad_top + w.kernel_h);
          int w0 = std::max(0, ow * w.stride_w - w.pad_left);
          int w1 = std::min(in.width, ow * w.stride_w - w.pad_left + w.kernel_w);
          if (!is_max) {
            float share = grad / static_cast<float>((h1 - h0) * (w1 - w0));
            for (int h = h0; h < h1; ++h) {
              for (int ww = w0; ww < w1; ++ww) g_in(plane + int64_t{h} * in.width + ww, s) += share;
            }
            continue;
          }
          int64_t best = -1;
          float best_value = -std::numeric_limits<float>::infinity();
          for (int h = h0; h < h1; ++h) {
            for (int ww = w0; ww < w1; ++ww) {
              int64_t i = plane + int64_t{h} * in.width + ww;
              if (best < 0 || input(i, s) > best_value) {
                best = i;
                best_value = input(i, s);
              }
            }
          }
          if (best >= 0) g_in(best, s) += grad;
        }
      }
    }
  }
  return g_in;
}

// Gradient with respect to the input of `layer`, given G with respect to its output `y`.
FloatBatch BackwardLayer(const QuantLayer& layer, const std::vector<float>* weights,
                         const FloatBatch& y, const FloatBatch& input, FloatBatch g) {
  const Shape& in = layer.input_shape;
  const Shape& out = layer.output_shape;
  switch (layer.kind) {
    case LayerKind::kDense: {
      MultiplyByDerivative(FusedActivation(layer), layer.leaky_alpha, y, g);
      Eigen::Map<const RowMajorF> w(weights->data(), out.Size(), in.Size());
      FloatBatch g_in(in.Size(), g.cols());
      g_in.noalias() = w.transpose() * g;
      return g_in;
    }
    case LayerKind::kConv2d: {
      MultiplyByDerivative(FusedActivation(layer), layer.leaky_alpha, y, g);
      const int64_t positions = int64_t{out.height} * out.width;
      Eigen::Map<const RowMajorF> w(weights->data(), out.channels, layer.FanIn());
      FloatBatch g_in = FloatBatch::Zero(in.Size(), g.cols());
      Eigen::MatrixXf cols;
      for (int64_t s = 0; s < g.cols(); ++s) {
        Eigen::Map<const RowMajorF> gs(g.col(s).data(), out.channels, positions);
        cols.noalias() = w.transpose() * gs;
        Col2ImAdd(cols, in, layer.window, out, g_in.col(s).data());
      }
      return g_in;
    }
    case LayerKind::kRelu:
    case LayerKind::kLeakyRelu:
    case LayerKind::kSigmoid:
      MultiplyByDerivative(layer.kind, layer.leaky_alpha, y, g);
      return g;
    case LayerKind::kMaxPool:
    case LayerKind::kAvgPool:
      return BackwardPool(layer, input, g);
    case LayerKind::kFlatten:
      return g;
    default:
      throw InternalError(std::string("margin gradient: no backward rule for ") +
                          LayerKindName(layer.kind) + " layer '" + layer.name + "'");
  }
}

}  // namespace

void BackwardMargin(const MarginBackward& backward, const std::vector<int>& target,
                    const std::vector<int>& runner_up, int stop_layer,
                    const std::function<void(int, const FloatBatch&)>& visit) {
  const std::vector<QuantLayer>& layers = backward.network->layers;
  const std::vector<FloatBatch>& outputs = *backward.outputs;
  const int last = static_cast<int>(layers.size()) - 1;
  if (stop_layer < 0 || stop_layer > last || outputs.size() != layers.size() ||
      backward.float_weights.size() != layers.size()) {
    throw InternalError("margin gradient: inconsistent layers, outputs or stop layer");
  }
  const int64_t n = static_cast<int64_t>(target.size());
  FloatBatch g = FloatBatch::Zero(outputs[last].rows(), n);
  for (int64_t s = 0; s < n; ++s) {
    if (target[s] == runner_up[s]) continue;
    g(target[s], s) += 1.0f;
    g(runner_up[s], s) -= 1.0f;
  }
  for (int k = last; k >= stop_layer; --k) {
    visit(k, g);
    if (k == stop_layer) break;
    const QuantLayer& layer = layers[k];
    if (layer.IsLinear() && backward.float_weights[k] == nullptr) {
      throw InternalError("margin gradient: no float weights for layer '" + layer.name + "'");
    }
    g = BackwardLayer(layer, backward.float_weights[k], outputs[k], outputs[k - 1], std::move(g));
  }
}

}  // namespace qrepair
