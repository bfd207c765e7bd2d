// The portable level of the forward-pass GEMMs: plain C++ the compiler vectorizes for the
// baseline instruction set. Built with -ffp-contract=off: a fused multiply-add would round
// differently from the other levels (see gemm.h).
#include "quant/kernels/gemm_driver.h"

namespace qrepair::kernels {

namespace {

// Each accumulator is one output's running sum, in k order; the loops vectorize across units.
void FloatTile(const float* a, int64_t lda, int rows, const float* panel, int64_t k,
               float (*acc)[kPanelUnits]) {
  for (int i = 0; i < rows; ++i) {
    float* c = acc[i];
    for (int u = 0; u < kPanelUnits; ++u) c[u] = 0.0f;
    const float* x = a + i * lda;
    for (int64_t j = 0; j < k; ++j) {
      const float v = x[j];
      const float* w = panel + j * kPanelUnits;
      for (int u = 0; u < kPanelUnits; ++u) c[u] += v * w[u];
    }
  }
}

void Int16Tile(const int16_t* a, int64_t lda, int rows, const int16_t* panel, int64_t pairs,
               int32_t (*acc)[kPanelUnits]) {
  for (int i = 0; i < rows; ++i) {
    int32_t* c = acc[i];
    for (int u = 0; u < kPanelUnits; ++u) c[u] = 0;
    const int16_t* x = a + i * lda;
    for (int64_t j = 0; j < pairs; ++j) {
      const int32_t x0 = x[2 * j], x1 = x[2 * j + 1];
      const int16_t* w = panel + j * 2 * kPanelUnits;
      for (int u = 0; u < kPanelUnits; ++u) c[u] += x0 * w[2 * u] + x1 * w[2 * u + 1];
    }
  }
}

}  // namespace

void GemmFloatScalar(const float* a, int64_t rows, int64_t lda, const PackedFloatWeights& w,
                     const float* bias, float* out, GemmOutput layout) {
  const int64_t k = w.k;
  DriveGemm<float, float>(a, rows, lda, RowBlock(k, 4), w.data.data(), w.Panels(), k * kPanelUnits,
                          w.units, bias, out, layout,
                          [k](const float* x, int64_t ld, int r, const float* panel,
                              float(*acc)[kPanelUnits]) { FloatTile(x, ld, r, panel, k, acc); });
}

void GemmInt16Scalar(const int16_t* a, int64_t rows, int64_t lda, const PackedInt16Weights& w,
                     const int64_t* bias, int64_t* out, GemmOutput layout) {
  const int64_t pairs = w.KPadded() / 2;
  DriveGemm<int16_t, int32_t>(
      a, rows, lda, RowBlock(w.KPadded(), 2), w.data.data(), w.Panels(), w.KPadded() * kPanelUnits,
      w.units, bias, out, layout,
      [pairs](const int16_t* x, int64_t ld, int r, const int16_t* panel,
              int32_t(*acc)[kPanelUnits]) { Int16Tile(x, ld, r, panel, pairs, acc); });
}

}  // namespace qrepair::kernels
