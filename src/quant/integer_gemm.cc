// Integer linear layers on the narrow GEMMs: codes narrowed to uint8 (u8 x s8 kernel) or int16
// after checking they are in the range the exactness proof assumed; dense layers as one product
// over the batch, conv layers as one product per sample over its im2col rows.
#include "quant/integer_gemm.h"

#include <vector>

#include "quant/kernels/gemm.h"
#include "quant/kernels/im2col.h"

namespace qrepair {

namespace {

using Int64Batch = Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic>;

// Narrows the codes to Code, lda per row (zero padded), and runs gemm(rows, count, out, layout)
// over the batch.
template <typename Code, typename Gemm>
void RunNarrow(const QuantLayer& layer, const CodeBatch& input, int64_t lda, Int64Batch* acc,
               Gemm gemm) {
  const int64_t fan_in = layer.FanIn();
  const int64_t n = input.cols();
  const Shape& out = layer.output_shape;
  acc->resize(out.Size(), n);
  if (layer.kind == LayerKind::kDense) {
    std::vector<Code> a(static_cast<size_t>(n * lda), 0);
    for (int64_t s = 0; s < n; ++s) {
      const int32_t* x = input.col(s).data();
      Code* row = a.data() + s * lda;
      for (int64_t j = 0; j < fan_in; ++j) row[j] = static_cast<Code>(x[j]);
    }
    gemm(a.data(), n, acc->data(), kernels::GemmOutput{layer.Units(), 1});
    return;
  }
  const int64_t positions = int64_t{out.height} * out.width;
  std::vector<Code> rows(static_cast<size_t>(positions * lda));
  for (int64_t s = 0; s < n; ++s) {
    kernels::Im2ColRows(input.col(s).data(), layer.input_shape, layer.window, out, lda,
                        rows.data());
    gemm(rows.data(), positions, acc->col(s).data(), kernels::GemmOutput{1, positions});
  }
}

}  // namespace

bool IntegerGemmAccumulators(const QuantLayer& layer, const CodeBatch& input, Int64Batch* acc) {
  const int64_t fan_in = layer.FanIn();
  const int64_t x_min = layer.input.Min(), x_max = layer.input.Max();
  if (!kernels::IntGemmFits(layer.weights_q, fan_in, x_min, x_max)) return false;
  // The proof covers codes in the layer's input range; a batch outside it takes the wide path.
  if (input.size() > 0 && (input.minCoeff() < x_min || input.maxCoeff() > x_max)) return false;
  const int64_t* bias = layer.bias_q.data();
  // The u8 kernel pays only where vpmaddubsw exists; the portable level multiplies int16 pairs.
  const bool u8_pays = kernels::ActiveCpuLevel() != kernels::CpuLevel::kScalar;
  if (const int group = u8_pays ? kernels::U8GemmGroup(layer.weights_q, fan_in, x_min, x_max) : 0) {
    const kernels::PackedInt8Weights w =
        kernels::PackInt8Weights(layer.weights_q.data(), layer.Units(), fan_in, group);
    const int64_t lda = w.KPadded();
    RunNarrow<uint8_t>(layer, input, lda, acc,
                       [&](const uint8_t* a, int64_t rows, int64_t* out, kernels::GemmOutput o) {
                         kernels::GemmU8(a, rows, lda, w, bias, out, o);
                       });
    return true;
  }
  const kernels::PackedInt16Weights w =
      kernels::PackInt16Weights(layer.weights_q.data(), layer.Units(), fan_in);
  const int64_t lda = w.KPadded();
  RunNarrow<int16_t>(layer, input, lda, acc,
                     [&](const int16_t* a, int64_t rows, int64_t* out, kernels::GemmOutput o) {
                       kernels::GemmInt16(a, rows, lda, w, bias, out, o);
                     });
  return true;
}

}  // namespace qrepair
