// The AVX2 level of the forward-pass GEMMs (x86-64). Built with -mavx2 -ffp-contract=off and
// called only when the CPU has AVX2 (cpu_level.cc). Floats: 8-wide multiply then add (never
// fused: the result must equal the portable level's, see gemm.h). int16 codes: vpmaddwd
// multiplies 16 pairs of int16 and adds each pair into an int32 lane (exact under IntGemmFits).
#include <immintrin.h>

#include <cstring>

#include "quant/kernels/gemm_driver.h"

namespace qrepair::kernels {

namespace {

template <int kRows>
void FloatTile(const float* a, int64_t lda, const float* panel, int64_t k,
               float (*acc)[kPanelUnits]) {
  __m256 lo[kRows], hi[kRows];
  for (int i = 0; i < kRows; ++i) lo[i] = hi[i] = _mm256_setzero_ps();
  for (int64_t j = 0; j < k; ++j) {
    const __m256 w_lo = _mm256_loadu_ps(panel + j * kPanelUnits);
    const __m256 w_hi = _mm256_loadu_ps(panel + j * kPanelUnits + 8);
    for (int i = 0; i < kRows; ++i) {
      const __m256 x = _mm256_broadcast_ss(a + i * lda + j);
      lo[i] = _mm256_add_ps(lo[i], _mm256_mul_ps(x, w_lo));
      hi[i] = _mm256_add_ps(hi[i], _mm256_mul_ps(x, w_hi));
    }
  }
  for (int i = 0; i < kRows; ++i) {
    _mm256_store_ps(acc[i], lo[i]);
    _mm256_store_ps(acc[i] + 8, hi[i]);
  }
}

template <int kRows>
void Int16Tile(const int16_t* a, int64_t lda, const int16_t* panel, int64_t pairs,
               int32_t (*acc)[kPanelUnits]) {
  __m256i lo[kRows], hi[kRows];
  for (int i = 0; i < kRows; ++i) lo[i] = hi[i] = _mm256_setzero_si256();
  for (int64_t j = 0; j < pairs; ++j) {
    const __m256i w_lo =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + j * 2 * kPanelUnits));
    const __m256i w_hi =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + j * 2 * kPanelUnits + 16));
    for (int i = 0; i < kRows; ++i) {
      int32_t pair;  // codes 2j and 2j+1 of row i, broadcast to every lane
      std::memcpy(&pair, a + i * lda + 2 * j, sizeof pair);
      const __m256i x = _mm256_set1_epi32(pair);
      lo[i] = _mm256_add_epi32(lo[i], _mm256_madd_epi16(x, w_lo));
      hi[i] = _mm256_add_epi32(hi[i], _mm256_madd_epi16(x, w_hi));
    }
  }
  for (int i = 0; i < kRows; ++i) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc[i]), lo[i]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc[i] + 8), hi[i]);
  }
}

// vpmaddubsw: 16 int16 lanes of x[2t]*w[2t] + x[2t+1]*w[2t+1] (the kernel's group keeps them
// below saturation), added in int16 for `group` quads, then vpmaddwd with ones widens lane pairs
// (one unit's quad) to int32. Three rows at a time: 16 registers hold the sums.
template <int kRows>
void U8Tile(const uint8_t* a, int64_t lda, const int8_t* panel, int64_t quads, int group,
            int32_t (*acc)[kPanelUnits]) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i lo[kRows], hi[kRows];
  for (int i = 0; i < kRows; ++i) lo[i] = hi[i] = _mm256_setzero_si256();
  for (int64_t q0 = 0; q0 < quads; q0 += group) {
    const int64_t q1 = q0 + group < quads ? q0 + group : quads;
    __m256i part_lo[kRows], part_hi[kRows];
    for (int i = 0; i < kRows; ++i) part_lo[i] = part_hi[i] = _mm256_setzero_si256();
    for (int64_t j = q0; j < q1; ++j) {
      const __m256i w_lo =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + j * 4 * kPanelUnits));
      const __m256i w_hi =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + j * 4 * kPanelUnits + 32));
      for (int i = 0; i < kRows; ++i) {
        int32_t quad;  // codes 4j..4j+3 of row i, broadcast to every lane
        std::memcpy(&quad, a + i * lda + 4 * j, sizeof quad);
        const __m256i x = _mm256_set1_epi32(quad);
        part_lo[i] = _mm256_add_epi16(part_lo[i], _mm256_maddubs_epi16(x, w_lo));
        part_hi[i] = _mm256_add_epi16(part_hi[i], _mm256_maddubs_epi16(x, w_hi));
      }
    }
    for (int i = 0; i < kRows; ++i) {
      lo[i] = _mm256_add_epi32(lo[i], _mm256_madd_epi16(part_lo[i], ones));
      hi[i] = _mm256_add_epi32(hi[i], _mm256_madd_epi16(part_hi[i], ones));
    }
  }
  for (int i = 0; i < kRows; ++i) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc[i]), lo[i]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc[i] + 8), hi[i]);
  }
}

template <int kRows>
void U8TileRows(const uint8_t* a, int64_t lda, const int8_t* panel, int64_t quads, int group,
                int32_t (*acc)[kPanelUnits]) {
  if constexpr (kRows > 3) {
    U8Tile<3>(a, lda, panel, quads, group, acc);
    U8Tile<kRows - 3>(a + 3 * lda, lda, panel, quads, group, acc + 3);
  } else {
    U8Tile<kRows>(a, lda, panel, quads, group, acc);
  }
}

}  // namespace

void GemmU8Avx2(const uint8_t* a, int64_t rows, int64_t lda, const PackedInt8Weights& w,
                const int64_t* bias, int64_t* out, GemmOutput layout) {
  const int64_t quads = w.KPadded() / 4;
  const int group = w.group;
  DriveGemm<uint8_t, int32_t>(a, rows, lda, RowBlock(w.KPadded(), 1), w.data.data(), w.Panels(),
                              w.KPadded() * kPanelUnits, w.units, bias, out, layout,
                              [quads, group](const uint8_t* x, int64_t ld, int r,
                                             const int8_t* panel, int32_t(*acc)[kPanelUnits]) {
                                switch (r) {
                                  case 6:
                                    return U8TileRows<6>(x, ld, panel, quads, group, acc);
                                  case 5:
                                    return U8TileRows<5>(x, ld, panel, quads, group, acc);
                                  case 4:
                                    return U8TileRows<4>(x, ld, panel, quads, group, acc);
                                  case 3:
                                    return U8TileRows<3>(x, ld, panel, quads, group, acc);
                                  case 2:
                                    return U8TileRows<2>(x, ld, panel, quads, group, acc);
                                  default:
                                    return U8TileRows<1>(x, ld, panel, quads, group, acc);
                                }
                              });
}

void GemmFloatAvx2(const float* a, int64_t rows, int64_t lda, const PackedFloatWeights& w,
                   const float* bias, float* out, GemmOutput layout) {
  static_assert(kTileRows == 6, "the tile switches below cover 1..6 rows");
  const int64_t k = w.k;
  DriveGemm<float, float>(
      a, rows, lda, RowBlock(k, 4), w.data.data(), w.Panels(), k * kPanelUnits, w.units, bias, out,
      layout, [k](const float* x, int64_t ld, int r, const float* panel, float(*acc)[kPanelUnits]) {
        switch (r) {
          case 6:
            return FloatTile<6>(x, ld, panel, k, acc);
          case 5:
            return FloatTile<5>(x, ld, panel, k, acc);
          case 4:
            return FloatTile<4>(x, ld, panel, k, acc);
          case 3:
            return FloatTile<3>(x, ld, panel, k, acc);
          case 2:
            return FloatTile<2>(x, ld, panel, k, acc);
          default:
            return FloatTile<1>(x, ld, panel, k, acc);
        }
      });
}

void GemmInt16Avx2(const int16_t* a, int64_t rows, int64_t lda, const PackedInt16Weights& w,
                   const int64_t* bias, int64_t* out, GemmOutput layout) {
  const int64_t pairs = w.KPadded() / 2;
  DriveGemm<int16_t, int32_t>(a, rows, lda, RowBlock(w.KPadded(), 2), w.data.data(), w.Panels(),
                              w.KPadded() * kPanelUnits, w.units, bias, out, layout,
                              [pairs](const int16_t* x, int64_t ld, int r, const int16_t* panel,
                                      int32_t(*acc)[kPanelUnits]) {
                                switch (r) {
                                  case 6:
                                    return Int16Tile<6>(x, ld, panel, pairs, acc);
                                  case 5:
                                    return Int16Tile<5>(x, ld, panel, pairs, acc);
                                  case 4:
                                    return Int16Tile<4>(x, ld, panel, pairs, acc);
                                  case 3:
                                    return Int16Tile<3>(x, ld, panel, pairs, acc);
                                  case 2:
                                    return Int16Tile<2>(x, ld, panel, pairs, acc);
                                  default:
                                    return Int16Tile<1>(x, ld, panel, pairs, acc);
                                }
                              });
}

}  // namespace qrepair::kernels
