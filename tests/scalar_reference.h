// A slow, obviously-correct scalar integer forward pass: the oracle for the batched pass,
// the SMT encoders and the exporters. One sample at a time, one output element at a time.
#pragma once

#include <algorithm>
#include <vector>

#include "qrepair/model/quantized_network.h"

namespace qrepair::testing {

inline std::vector<int64_t> ScalarForward(const QuantizedNetwork& net, std::vector<int64_t> x) {
  for (const QuantLayer& l : net.layers) {
    const Shape& in = l.input_shape;
    const Shape& out = l.output_shape;
    std::vector<int64_t> y(out.Size());
    auto at = [&](int c, int h, int w) -> int64_t {
      if (h < 0 || h >= in.height || w < 0 || w >= in.width) return 0;
      return x[(static_cast<size_t>(c) * in.height + h) * in.width + w];
    };
    auto requant = [&](int u, int64_t acc) {
      int64_t v;
      if (l.activation == QActivation::kRelu) {
        v = Requantize(acc > 0 ? acc : 0, l.requant[u]);
      } else if (l.activation == QActivation::kLeakyRelu && acc < 0) {
        v = Requantize(acc, l.requant_neg[u]);
      } else {
        v = Requantize(acc, l.requant[u]);
      }
      return std::clamp(v, l.output.Min(), l.output.Max());
    };
    const Window& w = l.window;
    switch (l.kind) {
      case LayerKind::kDense:
        for (int u = 0; u < out.channels; ++u) {
          int64_t acc = l.bias_q[u];
          for (int64_t j = 0; j < in.Size(); ++j)
            acc += int64_t{l.weights_q[u * in.Size() + j]} * x[j];
          y[u] = requant(u, acc);
        }
        break;
      case LayerKind::kConv2d:
        for (int o = 0; o < out.channels; ++o)
          for (int oh = 0; oh < out.height; ++oh)
            for (int ow = 0; ow < out.width; ++ow) {
              int64_t acc = l.bias_q[o];
              for (int c = 0; c < in.channels; ++c)
                for (int kh = 0; kh < w.kernel_h; ++kh)
                  for (int kw = 0; kw < w.kernel_w; ++kw) {
                    int64_t wq =
                        l.weights_q[((static_cast<size_t>(o) * in.channels + c) * w.kernel_h + kh) *
                                        w.kernel_w +
                                    kw];
                    acc += wq * at(c, oh * w.stride_h - w.pad_top + kh,
                                   ow * w.stride_w - w.pad_left + kw);
                  }
              y[(static_cast<size_t>(o) * out.height + oh) * out.width + ow] = requant(o, acc);
            }
        break;
      case LayerKind::kMaxPool:
      case LayerKind::kAvgPool:
        for (int c = 0; c < in.channels; ++c)
          for (int oh = 0; oh < out.height; ++oh)
            for (int ow = 0; ow < out.width; ++ow) {
              int64_t best = INT64_MIN, sum = 0, count = 0;
              for (int kh = 0; kh < w.kernel_h; ++kh)
                for (int kw = 0; kw < w.kernel_w; ++kw) {
                  int h = oh * w.stride_h - w.pad_top + kh, ww = ow * w.stride_w - w.pad_left + kw;
                  if (h < 0 || h >= in.height || ww < 0 || ww >= in.width) continue;
                  best = std::max(best, at(c, h, ww));
                  sum += at(c, h, ww);
                  ++count;
                }
              y[(static_cast<size_t>(c) * out.height + oh) * out.width + ow] =
                  l.kind == LayerKind::kMaxPool ? best : RoundingDivide(sum, count);
            }
        break;
      case LayerKind::kRelu:
        for (size_t i = 0; i < x.size(); ++i) y[i] = std::max<int64_t>(x[i], 0);
        break;
      default:  // flatten
        y = x;
    }
    x = std::move(y);
  }
  return x;
}

}  // namespace qrepair::testing
