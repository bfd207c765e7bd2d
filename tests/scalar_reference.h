// A slow, obviously-correct scalar integer forward pass: the oracle for the batched pass,
// the SMT encoders and the exporters. One sample at a time, one output element at a time; its
// roundings are written here again, apart from integer_ops.h.
#pragma once

#include <algorithm>
#include <vector>

#include "qrepair/model/quantized_network.h"

namespace qrepair::testing {

// The roundings, written apart from integer_ops.h: the nearest of the two integers around
// num / den by comparing distances (no shifts, no remainder masks), the tie broken by the mode.
inline int64_t OracleRoundDivide(__int128 num, __int128 den, RoundingMode mode) {
  __int128 q = num / den;                                             // toward zero
  if (q * den > num) --q;                                             // floor
  const __int128 below = num - q * den, above = (q + 1) * den - num;  // both >= 0
  if (below != above) return static_cast<int64_t>(below < above ? q : q + 1);
  switch (mode) {
    case RoundingMode::kHalfEven:
      return static_cast<int64_t>(q % 2 == 0 ? q : q + 1);
    case RoundingMode::kHalfUp:
      return static_cast<int64_t>(q + 1);
    default:  // away from zero (tflite's divisions too)
      return static_cast<int64_t>(num > 0 ? q + 1 : q);
  }
}

// TFLite's requantization from its definition in words: saturate to int32, multiply by 2^l
// (saturating), take round-half-up of x * m / 2^31 (the doubling high multiply; m < 2^31 so it
// never saturates), then divide by 2^r rounding half away from zero.
inline int64_t OracleTflite(int64_t acc, int64_t m, int shift) {
  auto sat32 = [](__int128 v) -> int64_t {
    return static_cast<int64_t>(std::clamp<__int128>(v, INT32_MIN, INT32_MAX));
  };
  const int l = std::max(0, 31 - shift), r = std::max(0, shift - 31);
  const int64_t x = sat32(static_cast<__int128>(sat32(acc)) * (__int128{1} << l));
  const int64_t h =
      OracleRoundDivide(static_cast<__int128>(x) * m, __int128{1} << 31, RoundingMode::kHalfUp);
  return OracleRoundDivide(h, __int128{1} << r, RoundingMode::kHalfAway);
}

inline int64_t OracleRequantize(int64_t acc, const FixedPointMultiplier& f, RoundingMode mode) {
  if (mode == RoundingMode::kTflite) return OracleTflite(acc, f.m, f.shift);
  return OracleRoundDivide(static_cast<__int128>(acc) * f.m, __int128{1} << f.shift, mode);
}

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
        v = OracleRequantize(acc > 0 ? acc : 0, l.requant[u], l.rounding);
      } else if (l.activation == QActivation::kLeakyRelu && acc < 0) {
        v = OracleRequantize(acc, l.requant_neg[u], l.rounding);
      } else {
        v = OracleRequantize(acc, l.requant[u], l.rounding);
      }
      return std::clamp(v + l.output.zero_point, l.output.Min(), l.output.Max());
    };
    const Window& w = l.window;
    const int64_t zp = l.input.zero_point;
    auto centered = [&](int c, int h, int w) -> int64_t {  // real / scale; padding is real 0
      if (h < 0 || h >= in.height || w < 0 || w >= in.width) return 0;
      return at(c, h, w) - zp;
    };
    switch (l.kind) {
      case LayerKind::kDense:
        for (int u = 0; u < out.channels; ++u) {
          int64_t acc = l.bias_q[u];
          for (int64_t j = 0; j < in.Size(); ++j)
            acc += int64_t{l.weights_q[u * in.Size() + j]} * (x[j] - zp);
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
                    acc += wq * centered(c, oh * w.stride_h - w.pad_top + kh,
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
                  l.kind == LayerKind::kMaxPool ? best
                  : l.rounding == RoundingMode::kTflite
                      ? OracleRoundDivide(sum, count, l.rounding)  // TFLite: the codes' average
                      : zp + OracleRoundDivide(sum - zp * count, count, l.rounding);
            }
        break;
      case LayerKind::kRelu:
        for (size_t i = 0; i < x.size(); ++i) y[i] = std::max<int64_t>(x[i], zp);
        break;
      default:  // flatten
        y = x;
    }
    x = std::move(y);
  }
  return x;
}

}  // namespace qrepair::testing
