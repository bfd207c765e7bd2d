// Integer linear layers on the narrow GEMMs: codes narrowed to uint8 (u8 x s8 kernel) or int16
// after checking they are in the range the exactness proof assumed; dense layers as one product
// over the batch, conv layers as one product per sample with its im2col patches.
#include "quant/integer_gemm.h"

#include <vector>

#include "quant/kernels/gemm.h"
#include "quant/kernels/im2col.h"

namespace qrepair {

namespace {

using Int64Batch = Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic>;

// Dense layers: narrows the codes to Code, lda per row (zero padded), and runs
// gemm(rows, count, out, layout) over the batch.
template <typename Code, typename Gemm>
void DenseNarrow(const QuantLayer& layer, const CodeBatch& input, int64_t lda, Int64Batch* acc,
                 Gemm gemm) {
  const int64_t fan_in = layer.FanIn();
  const int64_t n = input.cols();
  acc->resize(layer.output_shape.Size(), n);
  std::vector<Code> a(static_cast<size_t>(n * lda), 0);
  for (int64_t s = 0; s < n; ++s) {
    const int32_t* x = input.col(s).data();
    Code* row = a.data() + s * lda;
    for (int64_t j = 0; j < fan_in; ++j) row[j] = static_cast<Code>(x[j]);
  }
  gemm(a.data(), n, acc->data(), kernels::GemmOutput{layer.Units(), 1});
}

// Conv layers with the roles swapped: the weights (int16) are the rows and each sample's
// im2col patches the packed operand, so every output channel's plane is stored contiguously;
// the bias is added after (exact in int64).
void ConvSwapped(const QuantLayer& layer, const CodeBatch& input, Int64Batch* acc) {
  const int64_t k = layer.FanIn();
  const Shape& out = layer.output_shape;
  const int64_t positions = int64_t{out.height} * out.width;
  const int64_t n = input.cols();
  acc->resize(out.Size(), n);
  const int64_t lda = (k + 1) / 2 * 2;
  std::vector<int16_t> weights(static_cast<size_t>(layer.Units() * lda), 0);
  for (int u = 0; u < layer.Units(); ++u)
    for (int64_t j = 0; j < k; ++j)
      weights[u * lda + j] = static_cast<int16_t>(layer.weights_q[u * k + j]);
  std::vector<int32_t> rows(static_cast<size_t>(positions * k));
  const std::vector<int64_t> zeros(static_cast<size_t>(positions), 0);
  kernels::PackedInt16Weights patches;
  for (int64_t s = 0; s < n; ++s) {
    kernels::Im2ColRows(input.col(s).data(), layer.input_shape, layer.window, out, k, rows.data());
    kernels::PackInt16WeightsInto(rows.data(), static_cast<int>(positions), k, &patches);
    int64_t* plane = acc->col(s).data();
    kernels::GemmInt16(weights.data(), layer.Units(), lda, patches, zeros.data(), plane,
                       kernels::GemmOutput{positions, 1});
    for (int u = 0; u < layer.Units(); ++u)
      for (int64_t p = 0; p < positions; ++p) plane[u * positions + p] += layer.bias_q[u];
  }
}

}  // namespace

bool IntegerGemmAccumulators(const QuantLayer& layer, const CodeBatch& input, Int64Batch* acc) {
  const int64_t fan_in = layer.FanIn();
  const int64_t x_min = layer.input.Min(), x_max = layer.input.Max();
  if (!kernels::IntGemmFits(layer.weights_q, fan_in, x_min, x_max)) return false;
  // The proof covers codes in the layer's input range; a batch outside it takes the wide path.
  if (input.size() > 0 && (input.minCoeff() < x_min || input.maxCoeff() > x_max)) return false;
  if (layer.kind == LayerKind::kConv2d) {
    ConvSwapped(layer, input, acc);
    return true;
  }
  const int64_t* bias = layer.bias_q.data();
  // The u8 kernel pays only where vpmaddubsw exists; the portable level multiplies int16 pairs.
  const bool u8_pays = kernels::ActiveCpuLevel() != kernels::CpuLevel::kScalar;
  if (const int group = u8_pays ? kernels::U8GemmGroup(layer.weights_q, fan_in, x_min, x_max) : 0) {
    const kernels::PackedInt8Weights w =
        kernels::PackInt8Weights(layer.weights_q.data(), layer.Units(), fan_in, group);
    const int64_t lda = w.KPadded();
    DenseNarrow<uint8_t>(layer, input, lda, acc,
                         [&](const uint8_t* a, int64_t rows, int64_t* out, kernels::GemmOutput o) {
                           kernels::GemmU8(a, rows, lda, w, bias, out, o);
                         });
    return true;
  }
  const kernels::PackedInt16Weights w =
      kernels::PackInt16Weights(layer.weights_q.data(), layer.Units(), fan_in);
  const int64_t lda = w.KPadded();
  DenseNarrow<int16_t>(layer, input, lda, acc,
                       [&](const int16_t* a, int64_t rows, int64_t* out, kernels::GemmOutput o) {
                         kernels::GemmInt16(a, rows, lda, w, bias, out, o);
                       });
  return true;
}

}  // namespace qrepair
