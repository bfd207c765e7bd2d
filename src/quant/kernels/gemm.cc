// Weight packing, the exactness test of the int16 kernels, and the dispatch to a CPU level.
#include "quant/kernels/gemm.h"

#include <algorithm>
#include <cstdlib>

namespace qrepair::kernels {

void PackFloatWeightsInto(const float* w, int units, int64_t k, PackedFloatWeights* p) {
  p->units = units;
  p->k = k;
  p->data.assign(static_cast<size_t>(p->Panels()) * k * kPanelUnits, 0.0f);
  for (int u = 0; u < units; ++u) {
    float* panel = p->data.data() + static_cast<int64_t>(u / kPanelUnits) * k * kPanelUnits;
    for (int64_t j = 0; j < k; ++j) panel[j * kPanelUnits + u % kPanelUnits] = w[u * k + j];
  }
}

PackedFloatWeights PackFloatWeights(const float* w, int units, int64_t k) {
  PackedFloatWeights p;
  PackFloatWeightsInto(w, units, k, &p);
  return p;
}

void PackInt16WeightsInto(const int32_t* w, int units, int64_t k, PackedInt16Weights* p) {
  p->units = units;
  p->k = k;
  const int64_t kp = p->KPadded();
  p->data.assign(static_cast<size_t>(p->Panels()) * kp * kPanelUnits, 0);
  for (int u = 0; u < units; ++u) {
    int16_t* panel = p->data.data() + static_cast<int64_t>(u / kPanelUnits) * kp * kPanelUnits;
    for (int64_t j = 0; j < k; ++j) {
      panel[(j / 2) * 2 * kPanelUnits + int64_t{2} * (u % kPanelUnits) + j % 2] =
          static_cast<int16_t>(w[u * k + j]);
    }
  }
}

PackedInt16Weights PackInt16Weights(const int32_t* w, int units, int64_t k) {
  PackedInt16Weights p;
  PackInt16WeightsInto(w, units, k, &p);
  return p;
}

PackedInt8Weights PackInt8Weights(const int32_t* w, int units, int64_t k, int group) {
  PackedInt8Weights p;
  p.units = units;
  p.k = k;
  p.group = group;
  const int64_t kp = p.KPadded();
  p.data.assign(static_cast<size_t>(p.Panels()) * kp * kPanelUnits, 0);
  for (int u = 0; u < units; ++u) {
    int8_t* panel = p.data.data() + static_cast<int64_t>(u / kPanelUnits) * kp * kPanelUnits;
    for (int64_t j = 0; j < k; ++j) {
      panel[(j / 4) * 4 * kPanelUnits + int64_t{4} * (u % kPanelUnits) + j % 4] =
          static_cast<int8_t>(w[u * k + j]);
    }
  }
  return p;
}

int U8GemmGroup(const std::vector<int32_t>& weights, int64_t fan_in, int64_t x_min, int64_t x_max) {
  if (x_min < 0 || x_max > 255 || !IntGemmFits(weights, fan_in, x_min, x_max)) return 0;
  int64_t w_max = 0;
  for (int32_t v : weights) {
    if (v < -128 || v > 127) return 0;
    w_max = std::max<int64_t>(w_max, std::llabs(v));
  }
  const int64_t lane = 2 * w_max * x_max;  // one quad's contribution to an int16 lane
  if (lane == 0) return 16;
  return static_cast<int>(std::min<int64_t>(32767 / lane, 16));
}

bool IntGemmFits(const std::vector<int32_t>& weights, int64_t fan_in, int64_t x_min,
                 int64_t x_max) {
  if (x_min < INT16_MIN || x_max > INT16_MAX) return false;
  int64_t w_max = 0;
  for (int32_t v : weights) {
    if (v < INT16_MIN || v > INT16_MAX) return false;
    w_max = std::max<int64_t>(w_max, std::llabs(v));
  }
  const int64_t x_abs = std::max(std::llabs(x_min), std::llabs(x_max));
  // Every partial sum, and each vpmaddwd pair, is at most this in magnitude.
  const double bound = static_cast<double>(std::max<int64_t>(fan_in, 2)) *
                       static_cast<double>(w_max) * static_cast<double>(x_abs);
  return bound < 2147483648.0;  // 2^31
}

void GemmFloat(const float* a, int64_t rows, int64_t lda, const PackedFloatWeights& w,
               const float* bias, float* out, GemmOutput layout) {
#if defined(QREPAIR_HAVE_AVX2_KERNELS)
  if (ActiveCpuLevel() == CpuLevel::kAvx2) return GemmFloatAvx2(a, rows, lda, w, bias, out, layout);
#endif
  GemmFloatScalar(a, rows, lda, w, bias, out, layout);
}

void GemmInt16(const int16_t* a, int64_t rows, int64_t lda, const PackedInt16Weights& w,
               const int64_t* bias, int64_t* out, GemmOutput layout) {
#if defined(QREPAIR_HAVE_AVX2_KERNELS)
  if (ActiveCpuLevel() == CpuLevel::kAvx2) return GemmInt16Avx2(a, rows, lda, w, bias, out, layout);
#endif
  GemmInt16Scalar(a, rows, lda, w, bias, out, layout);
}

void GemmU8(const uint8_t* a, int64_t rows, int64_t lda, const PackedInt8Weights& w,
            const int64_t* bias, int64_t* out, GemmOutput layout) {
#if defined(QREPAIR_HAVE_AVX2_KERNELS)
  if (ActiveCpuLevel() == CpuLevel::kAvx2) return GemmU8Avx2(a, rows, lda, w, bias, out, layout);
#endif
  GemmU8Scalar(a, rows, lda, w, bias, out, layout);
}

}  // namespace qrepair::kernels
