// The portable level of the forward-pass GEMMs: SSE2 on x86-64 (part of its baseline, so every
// x86-64 CPU runs it), plain C++ elsewhere. Built with -ffp-contract=off: a fused multiply-add
// would round differently from the other levels (see gemm.h).
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstring>

#include "quant/kernels/gemm_driver.h"

namespace qrepair::kernels {

namespace {

// Each accumulator is one output's running sum, in k order; the vector lanes are units.
void FloatTile(const float* a, int64_t lda, int rows, const float* panel, int64_t k,
               float (*acc)[kPanelUnits]) {
  for (int i = 0; i < rows; ++i) {
    const float* x = a + i * lda;
#if defined(__SSE2__)
    __m128 c0 = _mm_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t j = 0; j < k; ++j) {
      const __m128 v = _mm_set1_ps(x[j]);
      const float* w = panel + j * kPanelUnits;
      c0 = _mm_add_ps(c0, _mm_mul_ps(v, _mm_loadu_ps(w)));
      c1 = _mm_add_ps(c1, _mm_mul_ps(v, _mm_loadu_ps(w + 4)));
      c2 = _mm_add_ps(c2, _mm_mul_ps(v, _mm_loadu_ps(w + 8)));
      c3 = _mm_add_ps(c3, _mm_mul_ps(v, _mm_loadu_ps(w + 12)));
    }
    _mm_storeu_ps(acc[i], c0);
    _mm_storeu_ps(acc[i] + 4, c1);
    _mm_storeu_ps(acc[i] + 8, c2);
    _mm_storeu_ps(acc[i] + 12, c3);
#else
    float c[kPanelUnits] = {};
    for (int64_t j = 0; j < k; ++j) {
      const float* w = panel + j * kPanelUnits;
      for (int u = 0; u < kPanelUnits; ++u) c[u] += x[j] * w[u];
    }
    for (int u = 0; u < kPanelUnits; ++u) acc[i][u] = c[u];
#endif
  }
}

void Int16Tile(const int16_t* a, int64_t lda, int rows, const int16_t* panel, int64_t pairs,
               int32_t (*acc)[kPanelUnits]) {
  for (int i = 0; i < rows; ++i) {
    const int16_t* x = a + i * lda;
#if defined(__SSE2__)
    // pmaddwd: 4 units per register, each lane one unit's pair (exact under IntGemmFits).
    __m128i c0 = _mm_setzero_si128(), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t j = 0; j < pairs; ++j) {
      int32_t pair;
      std::memcpy(&pair, x + 2 * j, sizeof pair);
      const __m128i v = _mm_set1_epi32(pair);
      const auto* w = reinterpret_cast<const __m128i*>(panel + j * 2 * kPanelUnits);
      c0 = _mm_add_epi32(c0, _mm_madd_epi16(v, _mm_loadu_si128(w)));
      c1 = _mm_add_epi32(c1, _mm_madd_epi16(v, _mm_loadu_si128(w + 1)));
      c2 = _mm_add_epi32(c2, _mm_madd_epi16(v, _mm_loadu_si128(w + 2)));
      c3 = _mm_add_epi32(c3, _mm_madd_epi16(v, _mm_loadu_si128(w + 3)));
    }
    auto* c = reinterpret_cast<__m128i*>(acc[i]);
    _mm_storeu_si128(c, c0);
    _mm_storeu_si128(c + 1, c1);
    _mm_storeu_si128(c + 2, c2);
    _mm_storeu_si128(c + 3, c3);
#else
    int32_t c[kPanelUnits] = {};
    for (int64_t j = 0; j < pairs; ++j) {
      const int32_t x0 = x[2 * j], x1 = x[2 * j + 1];
      const int16_t* w = panel + j * 2 * kPanelUnits;
      for (int64_t u = 0; u < kPanelUnits; ++u) c[u] += x0 * w[2 * u] + x1 * w[2 * u + 1];
    }
    for (int u = 0; u < kPanelUnits; ++u) acc[i][u] = c[u];
#endif
  }
}

void U8Tile(const uint8_t* a, int64_t lda, int rows, const int8_t* panel, int64_t quads,
            int32_t (*acc)[kPanelUnits]) {
  for (int i = 0; i < rows; ++i) {
    int32_t c[kPanelUnits] = {};
    const uint8_t* x = a + i * lda;
    for (int64_t j = 0; j < quads; ++j) {
      const int32_t x0 = x[4 * j], x1 = x[4 * j + 1], x2 = x[4 * j + 2], x3 = x[4 * j + 3];
      const int8_t* w = panel + j * 4 * kPanelUnits;
      for (int64_t u = 0; u < kPanelUnits; ++u)
        c[u] += x0 * w[4 * u] + x1 * w[4 * u + 1] + x2 * w[4 * u + 2] + x3 * w[4 * u + 3];
    }
    for (int u = 0; u < kPanelUnits; ++u) acc[i][u] = c[u];
  }
}

}  // namespace

void GemmU8Scalar(const uint8_t* a, int64_t rows, int64_t lda, const PackedInt8Weights& w,
                  const int64_t* bias, int64_t* out, GemmOutput layout) {
  const int64_t quads = w.KPadded() / 4;
  DriveGemm<uint8_t, int32_t>(
      a, rows, lda, RowBlock(w.KPadded(), 1), w.data.data(), w.Panels(), w.KPadded() * kPanelUnits,
      w.units, bias, out, layout,
      [quads](const uint8_t* x, int64_t ld, int r, const int8_t* panel,
              int32_t(*acc)[kPanelUnits]) { U8Tile(x, ld, r, panel, quads, acc); });
}

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
