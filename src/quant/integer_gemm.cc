// Integer linear layers on the int16 GEMM: codes narrowed to int16 (after checking they are in
// the range the exactness proof assumed), dense layers as one product over the batch, conv
// layers as one product per sample over its im2col rows.
#include "quant/integer_gemm.h"

#include <vector>

#include "quant/kernels/gemm.h"
#include "quant/kernels/im2col.h"

namespace qrepair {

bool Int16LinearAccumulators(const QuantLayer& layer, const CodeBatch& input,
                             Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic>* acc) {
  const int64_t fan_in = layer.FanIn();
  const int64_t x_min = layer.input.Min(), x_max = layer.input.Max();
  if (!kernels::IntGemmFits(layer.weights_q, fan_in, x_min, x_max)) return false;
  // The proof covers codes in the layer's input range; a batch outside it takes the wide path.
  if (input.size() > 0 && (input.minCoeff() < x_min || input.maxCoeff() > x_max)) return false;
  const kernels::PackedInt16Weights w =
      kernels::PackInt16Weights(layer.weights_q.data(), layer.Units(), fan_in);
  const int64_t lda = w.KPadded();
  const int64_t n = input.cols();
  const Shape& out = layer.output_shape;
  acc->resize(out.Size(), n);
  if (layer.kind == LayerKind::kDense) {
    std::vector<int16_t> a(static_cast<size_t>(n * lda), 0);
    for (int64_t s = 0; s < n; ++s) {
      const int32_t* x = input.col(s).data();
      int16_t* row = a.data() + s * lda;
      for (int64_t j = 0; j < fan_in; ++j) row[j] = static_cast<int16_t>(x[j]);
    }
    kernels::GemmInt16(a.data(), n, lda, w, layer.bias_q.data(), acc->data(),
                       kernels::GemmOutput{layer.Units(), 1});
    return true;
  }
  const int64_t positions = int64_t{out.height} * out.width;
  std::vector<int16_t> rows(static_cast<size_t>(positions * lda));
  for (int64_t s = 0; s < n; ++s) {
    kernels::Im2ColRows(input.col(s).data(), layer.input_shape, layer.window, out, lda,
                        rows.data());
    kernels::GemmInt16(rows.data(), positions, lda, w, layer.bias_q.data(), acc->col(s).data(),
                       kernels::GemmOutput{1, positions});
  }
  return true;
}

}  // namespace qrepair
