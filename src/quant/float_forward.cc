// The float forward pass, batched over samples; linear layers on the dispatched GEMM
// (kernels/gemm.h: one rounding sequence per output on every CPU and thread count).
#include <algorithm>
#include <cmath>
#include <limits>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "quant/im2col.h"
#include "quant/kernels/gemm.h"
#include "quant/kernels/im2col.h"
#include "quant/kernels/parallel.h"

namespace qrepair {

FloatBatch InputBatch(const Dataset& data, int64_t begin, int64_t end) {
  if (end < 0) end = data.rows;
  return Eigen::Map<const FloatBatch>(data.values.data() + begin * data.features, data.features,
                                      end - begin);
}

namespace {

// im2col of one CHW sample: (in_c*kh*kw) x (out_h*out_w), zero padding.
template <typename T>
void Im2Col(const T* x, const Shape& in, const Window& w, const Shape& out,
            Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& cols) {
  const int64_t k = int64_t{in.channels} * w.kernel_h * w.kernel_w;
  cols.resize(k, int64_t{out.height} * out.width);
  kernels::Im2ColRows(x, in, w, out, k, cols.data());
}

template <typename T, typename Reduce>
void Pool(const T* x, const Shape& in, const Window& w, const Shape& out, T* y, Reduce reduce) {
  for (int c = 0; c < in.channels; ++c) {
    for (int oh = 0; oh < out.height; ++oh) {
      for (int ow = 0; ow < out.width; ++ow) {
        int h0 = std::max(0, oh * w.stride_h - w.pad_top);
        int h1 = std::min(in.height, oh * w.stride_h - w.pad_top + w.kernel_h);
        int w0 = std::max(0, ow * w.stride_w - w.pad_left);
        int w1 = std::min(in.width, ow * w.stride_w - w.pad_left + w.kernel_w);
        y[(int64_t{c} * out.height + oh) * out.width + ow] =
            reduce(x + int64_t{c} * in.height * in.width, in.width, h0, h1, w0, w1);
      }
    }
  }
}

}  // namespace

// Declared in quant/im2col.h for the integer pass and the layer fit.
template <typename T>
void Im2ColT(const T* x, const Shape& in, const Window& w, const Shape& out,
             Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& cols) {
  Im2Col(x, in, w, out, cols);
}
template void Im2ColT<float>(const float*, const Shape&, const Window&, const Shape&,
                             Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>&);
template void Im2ColT<double>(const double*, const Shape&, const Window&, const Shape&,
                              Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>&);

namespace {

FloatBatch ForwardFloatLayerSerial(const Layer& layer, const FloatBatch& input) {
  const int64_t n = input.cols();
  const Shape& in = layer.input_shape;
  const Shape& out = layer.output_shape;
  FloatBatch y(out.Size(), n);
  switch (layer.kind) {
    case LayerKind::kDense: {
      const kernels::PackedFloatWeights w =
          kernels::PackFloatWeights(layer.weights.data(), out.Size(), in.Size());
      kernels::GemmFloat(input.data(), n, in.Size(), w, layer.bias.data(), y.data(),
                         kernels::GemmOutput{out.Size(), 1});
      return y;
    }
    case LayerKind::kConv2d: {
      // Per sample, the product with the roles swapped: rows are the output channels (the
      // weights), the packed operand is the sample's im2col patches, so each channel's plane
      // is stored contiguously. The bias comes after: acc + 0 is acc exactly (a sum that starts
      // at +0 is never -0), so acc + bias rounds once, as gemm.h defines.
      const Window& win = layer.window;
      const int64_t k = int64_t{in.channels} * win.kernel_h * win.kernel_w;
      const int64_t positions = int64_t{out.height} * out.width;
      std::vector<float> rows(static_cast<size_t>(positions * k));
      const std::vector<float> zeros(static_cast<size_t>(positions), 0.0f);
      kernels::PackedFloatWeights patches;
      for (int64_t s = 0; s < n; ++s) {
        kernels::Im2ColRows(input.col(s).data(), in, win, out, k, rows.data());
        kernels::PackFloatWeightsInto(rows.data(), static_cast<int>(positions), k, &patches);
        float* ys = y.col(s).data();
        kernels::GemmFloat(layer.weights.data(), out.channels, k, patches, zeros.data(), ys,
                           kernels::GemmOutput{positions, 1});
        for (int c = 0; c < out.channels; ++c) {
          float* plane = ys + c * positions;
          for (int64_t p = 0; p < positions; ++p) plane[p] += layer.bias[c];
        }
      }
      return y;
    }
    case LayerKind::kRelu:
      return input.cwiseMax(0.0f);
    case LayerKind::kLeakyRelu:
      return input.unaryExpr([a = layer.alpha](float v) { return v >= 0 ? v : a * v; });
    case LayerKind::kSigmoid:
      return input.unaryExpr([](float v) { return 1.0f / (1.0f + std::exp(-v)); });
    case LayerKind::kMaxPool:
    case LayerKind::kAvgPool: {
      bool is_max = layer.kind == LayerKind::kMaxPool;
      for (int64_t s = 0; s < n; ++s) {
        Pool(input.col(s).data(), in, layer.window, out, y.col(s).data(),
             [is_max](const float* plane, int width, int h0, int h1, int w0, int w1) {
               float acc = is_max ? -std::numeric_limits<float>::infinity() : 0.0f;
               for (int h = h0; h < h1; ++h) {
                 for (int w = w0; w < w1; ++w) {
                   float v = plane[int64_t{h} * width + w];
                   acc = is_max ? std::max(acc, v) : acc + v;
                 }
               }
               return is_max ? acc : acc / static_cast<float>((h1 - h0) * (w1 - w0));
             });
      }
      return y;
    }
    case LayerKind::kFlatten:
      return input;
    case LayerKind::kNormalize: {
      for (int64_t s = 0; s < n; ++s) {
        for (int64_t i = 0; i < in.Size(); ++i) {
          float off = layer.offset.size() == 1 ? layer.offset[0] : layer.offset[i];
          float div = layer.divisor.size() == 1 ? layer.divisor[0] : layer.divisor[i];
          y(i, s) = (input(i, s) - off) / div;
        }
      }
      return y;
    }
  }
  throw InternalError("unknown layer kind in float pass");
}

}  // namespace

// Samples are independent, so the batch is split over the compute threads (results do not
// depend on the split).
FloatBatch ForwardFloatLayer(const Layer& layer, const FloatBatch& input) {
  return kernels::ChunkedLayer(layer.output_shape.Size(), input, [&](const FloatBatch& chunk) {
    return ForwardFloatLayerSerial(layer, chunk);
  });
}

FloatBatch ForwardFloat(const Network& network, const FloatBatch& input,
                        std::vector<FloatBatch>* trace) {
  return kernels::ForwardChain(
      network.layers, input, trace,
      [](const Layer& layer, const FloatBatch& x) { return ForwardFloatLayerSerial(layer, x); });
}

namespace {

// The first index of the largest value in each column (ties go to the lowest index).
template <typename Batch>
std::vector<int> ArgmaxOfColumns(const Batch& logits) {
  std::vector<int> top(logits.cols());
  for (int64_t s = 0; s < logits.cols(); ++s) {
    int best = 0;
    for (int k = 1; k < logits.rows(); ++k) {
      if (logits(k, s) > logits(best, s)) best = k;
    }
    top[s] = best;
  }
  return top;
}

}  // namespace

std::vector<int> ArgmaxColumns(const FloatBatch& logits) { return ArgmaxOfColumns(logits); }
std::vector<int> ArgmaxColumns(const CodeBatch& logits) { return ArgmaxOfColumns(logits); }

}  // namespace qrepair
