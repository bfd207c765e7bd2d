// im2col of one CHW sample into rows: row p (output position oh*out_w + ow) holds the window's
// in_c*kh*kw values, zero where the window hangs over the padding, then zeros up to `lda`.
// This is the A operand of the conv GEMMs (gemm.h), and Eigen's column-major
// (in_c*kh*kw) x positions matrix when lda equals the window size.
#pragma once

#include <cstdint>

#include "qrepair/model/network.h"

namespace qrepair::kernels {

template <typename In, typename Out>
void Im2ColRows(const In* x, const Shape& in, const Window& w, const Shape& out, int64_t lda,
                Out* rows) {
  const int64_t k = int64_t{in.channels} * w.kernel_h * w.kernel_w;
  for (int oh = 0; oh < out.height; ++oh) {
    for (int ow = 0; ow < out.width; ++ow) {
      Out* row = rows + (int64_t{oh} * out.width + ow) * lda;
      for (int c = 0; c < in.channels; ++c) {
        for (int kh = 0; kh < w.kernel_h; ++kh) {
          const int ih = oh * w.stride_h - w.pad_top + kh;
          for (int kw = 0; kw < w.kernel_w; ++kw) {
            const int iw = ow * w.stride_w - w.pad_left + kw;
            const bool inside = ih >= 0 && ih < in.height && iw >= 0 && iw < in.width;
            row[(int64_t{c} * w.kernel_h + kh) * w.kernel_w + kw] =
                inside ? static_cast<Out>(x[(int64_t{c} * in.height + ih) * in.width + iw])
                       : Out(0);
          }
        }
      }
      for (int64_t j = k; j < lda; ++j) row[j] = Out(0);
    }
  }
}

}  // namespace qrepair::kernels
