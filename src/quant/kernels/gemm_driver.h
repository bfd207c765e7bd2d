// The cache blocking and the stores shared by every level's GEMM. Included by each level's own
// source (compiled with that level's instruction set), so everything here has internal linkage:
// the linker must never merge an AVX2 copy into the portable build.
#pragma once

#include <cstdint>

#include "quant/kernels/gemm.h"

namespace qrepair::kernels {
namespace {  // NOLINT(cert-dcl59-cpp,google-build-namespaces): one copy per instruction set

// Rows per register tile: a tile is kTileRows rows x kPanelUnits units of accumulators.
constexpr int kTileRows = 6;

// C = A * W^T + bias over every tile. `tile(a_rows, lda, rows, panel, acc)` fills acc[i][u] with
// row i, unit u of one panel's product (rows <= kTileRows); this loop adds the bias and stores.
template <typename In, typename Acc, typename Out, typename Weight, typename Tile>
void DriveGemm(const In* a, int64_t rows, int64_t lda, int64_t row_block, const Weight* panels,
               int panel_count, int64_t panel_size, int units, const Out* bias, Out* out,
               GemmOutput layout, Tile tile) {
  alignas(32) Acc acc[kTileRows][kPanelUnits];
  for (int64_t r0 = 0; r0 < rows; r0 += row_block) {
    const int64_t r1 = r0 + row_block < rows ? r0 + row_block : rows;
    for (int p = 0; p < panel_count; ++p) {
      const Weight* panel = panels + p * panel_size;
      const int u0 = p * kPanelUnits;
      const int unit_count = units - u0 < kPanelUnits ? units - u0 : kPanelUnits;
      const Out* b = bias + u0;
      for (int64_t r = r0; r < r1; r += kTileRows) {
        const int tile_rows = r1 - r < kTileRows ? static_cast<int>(r1 - r) : kTileRows;
        tile(a + r * lda, lda, tile_rows, panel, acc);
        for (int i = 0; i < tile_rows; ++i) {
          Out* o = out + (r + i) * layout.row_stride + int64_t{u0} * layout.unit_stride;
          if (layout.unit_stride == 1 && unit_count == kPanelUnits) {
            for (int u = 0; u < kPanelUnits; ++u) o[u] = static_cast<Out>(acc[i][u]) + b[u];
          } else {
            for (int u = 0; u < unit_count; ++u)
              o[u * layout.unit_stride] = static_cast<Out>(acc[i][u]) + b[u];
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace qrepair::kernels
