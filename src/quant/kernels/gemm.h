// The matrix products of the forward passes, C = A * W^T with a bias, in the layouts the passes
// hold: A is rows x k (one sample, or one conv output position, per row; k contiguous), W is
// units x k row-major (the layer's weights as stored). Row r, unit u of the result goes to
// out[r * row_stride + u * unit_stride] (dense: row_stride = units, unit_stride = 1, which is
// the column-per-sample batch; conv: row_stride = 1, unit_stride = positions, which is CHW).
//
// Each product has one defined result on every CPU level and thread count:
//  - float: acc = 0; for k ascending: acc = round(acc + round(a_k * w_k)) (a multiply and an
//    add, never a fused multiply-add); out = round(acc + bias). Every level vectorizes across
//    units and rows only, never across k, so the rounding sequence of each output is the same.
//  - integer (int16 codes, or u8 codes with s8 weights): exact. The caller proves with
//    IntGemmFits (and U8GemmGroup) that every partial sum fits in int32 (codes and weights in
//    int16, fan_in * max|w| * max|x| < 2^31) and every int16 lane of the u8 kernel in int16; the
//    bias is added in int64.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/kernels/cpu_level.h"

namespace qrepair::kernels {

// Units per weight panel: two AVX2 registers of 8 lanes.
inline constexpr int kPanelUnits = 16;

// W packed for the float kernels: panel p holds, for each k, the 16 weights of units
// 16p..16p+15 (zero past the last unit).
struct PackedFloatWeights {
  int units = 0;
  int64_t k = 0;
  std::vector<float> data;
  int Panels() const { return (units + kPanelUnits - 1) / kPanelUnits; }
};
PackedFloatWeights PackFloatWeights(const float* w, int units, int64_t k);
// The same into `p`, reusing its buffer (conv layers pack every sample's patches).
void PackFloatWeightsInto(const float* w, int units, int64_t k, PackedFloatWeights* p);

// W packed for the int16 kernels (vpmaddwd multiplies pairs of neighbours along k): panel p
// holds, for each pair j = k/2, units 16p..16p+15 as (w[u][2j], w[u][2j+1]). k is padded to
// even with zero weights; A rows must then carry KPadded() codes (the pad code is 0).
struct PackedInt16Weights {
  int units = 0;
  int64_t k = 0;
  std::vector<int16_t> data;
  int64_t KPadded() const { return (k + 1) / 2 * 2; }
  int Panels() const { return (units + kPanelUnits - 1) / kPanelUnits; }
};
PackedInt16Weights PackInt16Weights(const int32_t* w, int units, int64_t k);
void PackInt16WeightsInto(const int32_t* w, int units, int64_t k, PackedInt16Weights* p);

// W packed for the u8 x s8 kernels (vpmaddubsw multiplies unsigned 8-bit codes by signed 8-bit
// weights and adds neighbouring pairs into int16): panel p holds, for each quad j = k/4, units
// 16p..16p+15 as w[u][4j..4j+3]. k is padded to a multiple of 4 with zero weights. `group`
// quads of int16 pair sums are added before they are widened to int32 (U8GemmGroup).
struct PackedInt8Weights {
  int units = 0;
  int64_t k = 0;
  int group = 1;
  std::vector<int8_t> data;
  int64_t KPadded() const { return (k + 3) / 4 * 4; }
  int Panels() const { return (units + kPanelUnits - 1) / kPanelUnits; }
};
PackedInt8Weights PackInt8Weights(const int32_t* w, int units, int64_t k, int group);

// How many quads the u8 kernel may add in int16 lanes exactly: codes in [x_min, x_max] within
// [0, 255], weights within [-128, 127], IntGemmFits, and each int16 lane (2 products per quad)
// bounded by group * 2 * max|w| * max|x| <= 32767. 0 when the u8 kernel does not apply.
int U8GemmGroup(const std::vector<int32_t>& weights, int64_t fan_in, int64_t x_min, int64_t x_max);

// True when the int16 kernel computes this product exactly: codes in [x_min, x_max] and the
// weights fit int16, and fan_in * max|w| * max|x| < 2^31 bounds every partial sum.
bool IntGemmFits(const std::vector<int32_t>& weights, int64_t fan_in, int64_t x_min, int64_t x_max);

struct GemmOutput {
  int64_t row_stride = 0;
  int64_t unit_stride = 1;
};

// At ActiveCpuLevel(). a: rows x lda floats (lda >= k).
void GemmFloat(const float* a, int64_t rows, int64_t lda, const PackedFloatWeights& w,
               const float* bias, float* out, GemmOutput layout);
// At ActiveCpuLevel(). a: rows x lda int16 codes (lda >= KPadded(), the pad column 0).
void GemmInt16(const int16_t* a, int64_t rows, int64_t lda, const PackedInt16Weights& w,
               const int64_t* bias, int64_t* out, GemmOutput layout);

// At ActiveCpuLevel(). a: rows x lda unsigned codes (lda >= KPadded(), the pad columns 0).
void GemmU8(const uint8_t* a, int64_t rows, int64_t lda, const PackedInt8Weights& w,
            const int64_t* bias, int64_t* out, GemmOutput layout);

// The per-level implementations (gemm_scalar.cc, gemm_avx2.cc).
void GemmU8Scalar(const uint8_t* a, int64_t rows, int64_t lda, const PackedInt8Weights& w,
                  const int64_t* bias, int64_t* out, GemmOutput layout);
void GemmU8Avx2(const uint8_t* a, int64_t rows, int64_t lda, const PackedInt8Weights& w,
                const int64_t* bias, int64_t* out, GemmOutput layout);
void GemmFloatScalar(const float* a, int64_t rows, int64_t lda, const PackedFloatWeights& w,
                     const float* bias, float* out, GemmOutput layout);
void GemmInt16Scalar(const int16_t* a, int64_t rows, int64_t lda, const PackedInt16Weights& w,
                     const int64_t* bias, int64_t* out, GemmOutput layout);
void GemmFloatAvx2(const float* a, int64_t rows, int64_t lda, const PackedFloatWeights& w,
                   const float* bias, float* out, GemmOutput layout);
void GemmInt16Avx2(const int16_t* a, int64_t rows, int64_t lda, const PackedInt16Weights& w,
                   const int64_t* bias, int64_t* out, GemmOutput layout);

// Rows per cache block: a block of A rows stays in L2 while every weight panel passes over it.
inline int64_t RowBlock(int64_t k, int64_t bytes_per_value) {
  int64_t rows = (int64_t{128} * 1024) / (k * bytes_per_value + 1);
  rows = rows / 6 * 6;
  return rows < 6 ? 6 : rows;
}

}  // namespace qrepair::kernels
