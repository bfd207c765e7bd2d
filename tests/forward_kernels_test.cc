// The forward passes' kernels against their definitions: the integer pass against the scalar
// oracle on thousands of random networks (weight and activation codes of 2 to 16 bits,
// per-tensor and per-channel, dense and conv), and the float layers against the rounding
// sequence gemm.h defines, at every CPU level this machine supports and with 1 and 2 threads.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "qrepair/quant/compute_threads.h"
#include "qrepair/quant/forward.h"
#include "quant/integer_gemm.h"
#include "quant/kernels/cpu_level.h"
#include "quant/kernels/gemm.h"
#include "quant/kernels/parallel.h"
#include "random_networks.h"
#include "scalar_reference.h"

namespace qrepair {
namespace {

using kernels::CpuLevel;

int Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return static_cast<int>(std::uniform_int_distribution<int64_t>(lo, hi)(rng));
}

// Runs `fn` at every supported level and thread count, then restores the defaults.
template <typename Fn>
void AtEveryLevelAndThreadCount(Fn fn) {
  for (CpuLevel level : kernels::SupportedCpuLevels()) {
    for (int threads : {1, 2}) {
      kernels::ForceCpuLevel(level);
      SetComputeThreads(threads);
      SCOPED_TRACE(std::string("level ") + kernels::CpuLevelName(level) + ", " +
                   std::to_string(threads) + " thread(s)");
      fn();
    }
  }
  kernels::ForceCpuLevel(std::nullopt);
  SetComputeThreads(0);
}

// Recodes a random quantized network to `weight_bits`-bit weights (drawn over the whole range)
// and `code_bits`-bit activations; the logits stay int32.
void Recode(QuantizedNetwork& q, int weight_bits, int code_bits, std::mt19937_64& rng) {
  q.input.bits = code_bits;
  const int logit = q.LogitLayer();
  for (size_t i = 0; i < q.layers.size(); ++i) {
    QuantLayer& l = q.layers[i];
    l.input.bits = code_bits;
    if (static_cast<int>(i) < logit) l.output.bits = code_bits;
    if (!l.IsLinear()) continue;
    l.weight_bits = weight_bits;
    for (int32_t& w : l.weights_q) w = Uniform(rng, l.WeightMin(), l.WeightMax());
    for (int64_t& b : l.bias_q) b = Uniform(rng, -(int64_t{1} << 20), int64_t{1} << 20);
    l.UpdateMultipliers();
  }
  // Non-linear layers pass codes through: their input and output codes follow the linear ones.
  for (size_t i = 1; i < q.layers.size(); ++i) {
    q.layers[i].input = q.layers[i - 1].output;
    if (!q.layers[i].IsLinear() && static_cast<int>(i) != logit)
      q.layers[i].output = q.layers[i].input;
  }
  q.layers[0].input = q.input;
}

CodeBatch RandomCodes(const QuantizedNetwork& q, int64_t samples, std::mt19937_64& rng) {
  CodeBatch codes(q.input_shape.Size(), samples);
  for (int64_t i = 0; i < codes.size(); ++i)
    codes.data()[i] = Uniform(rng, q.input.Min(), q.input.Max());
  return codes;
}

TEST(ForwardKernelsTest, IntegerPassMatchesScalarOracleAtEveryLevelAndThreadCount) {
  std::mt19937_64 rng(17);
  int u8_layers = 0, narrow_layers = 0, wide_layers = 0, per_channel = 0, per_tensor = 0, conv = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const bool with_conv = trial % 2 == 1;
    testing::RandomCase c = testing::MakeRandomCase(rng, 2, with_conv);
    QuantizedNetwork& q = c.quantized;
    Recode(q, 2 + trial % 15, 2 + (trial / 15) % 15, rng);
    for (const QuantLayer& l : q.layers) {
      if (!l.IsLinear()) continue;
      u8_layers += kernels::U8GemmGroup(l.weights_q, l.FanIn(), l.input.Min(), l.input.Max()) > 0;
      (kernels::IntGemmFits(l.weights_q, l.FanIn(), l.input.Min(), l.input.Max()) ? narrow_layers
                                                                                  : wide_layers)++;
      (l.granularity == Granularity::kPerChannel ? per_channel : per_tensor)++;
      conv += l.kind == LayerKind::kConv2d;
    }
    // 40 samples: more than one chunk (SampleChunk's minimum is 16), so 2 threads split them.
    const CodeBatch codes = RandomCodes(q, 40, rng);
    std::vector<std::vector<int64_t>> expected;
    for (int64_t s = 0; s < codes.cols(); ++s) {
      std::vector<int64_t> x(codes.col(s).data(), codes.col(s).data() + codes.rows());
      expected.push_back(testing::ScalarForward(q, x));
    }
    SCOPED_TRACE("trial " + std::to_string(trial));
    AtEveryLevelAndThreadCount([&] {
      std::vector<CodeBatch> trace;
      const CodeBatch chunked = ForwardInteger(q, codes);
      const CodeBatch traced = ForwardInteger(q, codes, &trace);
      ASSERT_EQ(chunked, traced);
      for (int64_t s = 0; s < codes.cols(); ++s) {
        for (size_t k = 0; k < expected[s].size(); ++k)
          ASSERT_EQ(chunked(static_cast<int64_t>(k), s), expected[s][k])
              << "sample " << s << " logit " << k;
      }
    });
    if (HasFatalFailure()) return;
  }
  // Both accumulator paths, both granularities and conv layers were exercised.
  EXPECT_GT(u8_layers, 300);
  EXPECT_GT(narrow_layers, 1000);
  EXPECT_GT(wide_layers, 200);
  EXPECT_GT(per_channel, 300);
  EXPECT_GT(per_tensor, 300);
  EXPECT_GT(conv, 500);
}

// The float rounding sequence of gemm.h, one output at a time: acc = 0, then acc + x*w in k
// order (im2col order for conv, padding included as 0), then + bias.
float DotOracle(const std::vector<float>& x, const float* w, float bias) {
  volatile float acc = 0.0f;  // volatile: no fused multiply-add, whatever the flags
  for (size_t j = 0; j < x.size(); ++j) {
    volatile float product = x[j] * w[j];
    acc = acc + product;
  }
  return acc + bias;
}

TEST(ForwardKernelsTest, FloatLayersFollowTheirRoundingSequenceAtEveryLevelAndThreadCount) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int trial = 0; trial < 300; ++trial) {
    Layer layer;
    layer.name = "l";
    const bool conv = trial % 2 == 1;
    if (conv) {
      layer.kind = LayerKind::kConv2d;
      layer.input_shape = Shape{Uniform(rng, 1, 3), Uniform(rng, 3, 9), Uniform(rng, 3, 9)};
      layer.window =
          Window{Uniform(rng, 1, 3), Uniform(rng, 1, 3), Uniform(rng, 1, 2), Uniform(rng, 1, 2),
                 Uniform(rng, 0, 1), Uniform(rng, 0, 1), Uniform(rng, 0, 1), Uniform(rng, 0, 1)};
      const Window& w = layer.window;
      layer.output_shape =
          Shape{Uniform(rng, 1, 35),
                (layer.input_shape.height + w.pad_top + w.pad_bottom - w.kernel_h) / w.stride_h + 1,
                (layer.input_shape.width + w.pad_left + w.pad_right - w.kernel_w) / w.stride_w + 1};
    } else {
      layer.kind = LayerKind::kDense;
      layer.input_shape = Shape{Uniform(rng, 1, 300), 1, 1};
      layer.output_shape = Shape{Uniform(rng, 1, 40), 1, 1};
    }
    const int units = layer.output_shape.channels;
    const int64_t k =
        conv ? int64_t{layer.input_shape.channels} * layer.window.kernel_h * layer.window.kernel_w
             : layer.input_shape.Size();
    layer.weights.resize(static_cast<size_t>(units * k));
    for (float& v : layer.weights) v = normal(rng);
    layer.bias.resize(units);
    for (float& v : layer.bias) v = normal(rng);
    FloatBatch x(layer.input_shape.Size(), Uniform(rng, 1, 45));
    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = normal(rng);

    FloatBatch expected(layer.output_shape.Size(), x.cols());
    const Shape& in = layer.input_shape;
    const Shape& out = layer.output_shape;
    const Window& win = layer.window;
    for (int64_t s = 0; s < x.cols(); ++s) {
      for (int u = 0; u < units; ++u) {
        const float* w = layer.weights.data() + u * k;
        if (!conv) {
          std::vector<float> col(x.col(s).data(), x.col(s).data() + k);
          expected(u, s) = DotOracle(col, w, layer.bias[u]);
          continue;
        }
        for (int oh = 0; oh < out.height; ++oh) {
          for (int ow = 0; ow < out.width; ++ow) {
            std::vector<float> patch;
            for (int c = 0; c < in.channels; ++c)
              for (int kh = 0; kh < win.kernel_h; ++kh)
                for (int kw = 0; kw < win.kernel_w; ++kw) {
                  const int ih = oh * win.stride_h - win.pad_top + kh;
                  const int iw = ow * win.stride_w - win.pad_left + kw;
                  const bool inside = ih >= 0 && ih < in.height && iw >= 0 && iw < in.width;
                  patch.push_back(inside ? x((int64_t{c} * in.height + ih) * in.width + iw, s)
                                         : 0.0f);
                }
            expected((int64_t{u} * out.height + oh) * out.width + ow, s) =
                DotOracle(patch, w, layer.bias[u]);
          }
        }
      }
    }
    SCOPED_TRACE("trial " + std::to_string(trial));
    AtEveryLevelAndThreadCount([&] {
      const FloatBatch y = ForwardFloatLayer(layer, x);
      ASSERT_EQ(y.size(), expected.size());
      ASSERT_EQ(std::memcmp(y.data(), expected.data(), sizeof(float) * y.size()), 0);
    });
    if (HasFatalFailure()) return;
  }
}

TEST(ForwardKernelsTest, FloatPassGivesTheSameBitsAtEveryLevelThreadCountAndChunking) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  for (int trial = 0; trial < 200; ++trial) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 2, trial % 2 == 1);
    FloatBatch x(c.network.input_shape.Size(), 40);
    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = unit(rng);
    kernels::ForceCpuLevel(CpuLevel::kScalar);
    SetComputeThreads(1);
    std::vector<FloatBatch> trace;
    const FloatBatch reference = ForwardFloat(c.network, x, &trace);
    SCOPED_TRACE("trial " + std::to_string(trial));
    AtEveryLevelAndThreadCount([&] {
      const FloatBatch chunked = ForwardFloat(c.network, x);
      ASSERT_EQ(std::memcmp(chunked.data(), reference.data(), sizeof(float) * reference.size()), 0);
    });
    if (HasFatalFailure()) return;
  }
}

TEST(ForwardKernelsTest, Int16KernelIsExactAtTheEdgeOfItsProof) {
  // fan_in * max|w| * max|x| just below 2^31 with the most negative int16 weight: every lane's
  // pair sum and every partial sum is at its largest.
  const int64_t fan_in = 2;
  const std::vector<int32_t> weights = {-32768, -32768, 32767, -32768};  // 2 units x 2
  ASSERT_TRUE(kernels::IntGemmFits(weights, fan_in, -32767, 32767));
  ASSERT_FALSE(kernels::IntGemmFits(weights, fan_in, -32768, 32767));  // 2 * 2^15 * 2^15
  ASSERT_FALSE(kernels::IntGemmFits({40000}, 1, 0, 1));                // weight beyond int16
  const kernels::PackedInt16Weights w = kernels::PackInt16Weights(weights.data(), 2, fan_in);
  const std::vector<int16_t> a = {-32767, -32767, 32767, -32767, 0, 1};
  const std::vector<int64_t> bias = {int64_t{1} << 40, -3};
  for (CpuLevel level : kernels::SupportedCpuLevels()) {
    kernels::ForceCpuLevel(level);
    std::vector<int64_t> out(6);
    kernels::GemmInt16(a.data(), 3, 2, w, bias.data(), out.data(), kernels::GemmOutput{2, 1});
    for (int r = 0; r < 3; ++r) {
      for (int u = 0; u < 2; ++u) {
        int64_t acc = bias[u];
        for (int j = 0; j < 2; ++j) acc += int64_t{a[r * 2 + j]} * weights[u * 2 + j];
        EXPECT_EQ(out[r * 2 + u], acc) << kernels::CpuLevelName(level) << " row " << r;
      }
    }
  }
  kernels::ForceCpuLevel(std::nullopt);
}

TEST(ForwardKernelsTest, U8KernelIsExactAtTheEdgeOfItsProof) {
  // 2 * 64 * 255 = 32640: one quad per int16 lane before widening; 2 * 128 * 255 saturates.
  const int64_t fan_in = 203;  // not a multiple of 4: the padded quad too
  std::vector<int32_t> weights(static_cast<size_t>(3 * fan_in));
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = i % 3 == 0 ? -64 : (i % 3 == 1 ? 64 : 0);
  ASSERT_EQ(kernels::U8GemmGroup(weights, fan_in, 0, 255), 1);
  ASSERT_EQ(kernels::U8GemmGroup(weights, fan_in, 0, 15), 16);  // 2 * 64 * 15 * 16 < 32767
  ASSERT_EQ(kernels::U8GemmGroup(weights, fan_in, -1, 255), 0);
  ASSERT_EQ(kernels::U8GemmGroup({-128, 1}, 2, 0, 255), 0);
  const std::vector<int64_t> bias = {-7, 0, int64_t{1} << 35};
  std::mt19937_64 rng(8);
  for (int64_t x_max : {int64_t{255}, int64_t{15}}) {
    const int group = kernels::U8GemmGroup(weights, fan_in, 0, x_max);
    const kernels::PackedInt8Weights w = kernels::PackInt8Weights(weights.data(), 3, fan_in, group);
    const int64_t lda = w.KPadded();
    const int rows = 7;
    std::vector<uint8_t> a(static_cast<size_t>(rows * lda), 0);
    for (int r = 0; r < rows; ++r)
      for (int64_t j = 0; j < fan_in; ++j)
        a[r * lda + j] = static_cast<uint8_t>(r == 0 ? x_max : Uniform(rng, 0, x_max));
    for (CpuLevel level : kernels::SupportedCpuLevels()) {
      kernels::ForceCpuLevel(level);
      std::vector<int64_t> out(static_cast<size_t>(rows * 3));
      kernels::GemmU8(a.data(), rows, lda, w, bias.data(), out.data(), kernels::GemmOutput{3, 1});
      for (int r = 0; r < rows; ++r) {
        for (int u = 0; u < 3; ++u) {
          int64_t acc = bias[u];
          for (int64_t j = 0; j < fan_in; ++j)
            acc += int64_t{a[r * lda + j]} * weights[u * fan_in + j];
          EXPECT_EQ(out[r * 3 + u], acc) << kernels::CpuLevelName(level) << " row " << r;
        }
      }
    }
  }
  kernels::ForceCpuLevel(std::nullopt);
}

TEST(ForwardKernelsTest, CodesOutsideTheLayersRangeTakeTheWidePath) {
  std::mt19937_64 rng(3);
  testing::RandomCase c = testing::MakeRandomCase(rng, 4, false);
  const QuantLayer& layer = c.quantized.layers[0];
  CodeBatch x = CodeBatch::Constant(layer.input_shape.Size(), 3, 1);
  x(0, 1) = static_cast<int32_t>(layer.input.Max() + 100000);  // outside the proof's range
  Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic> narrow;
  EXPECT_FALSE(IntegerGemmAccumulators(layer, x, &narrow));
  const auto acc = LinearAccumulators(layer, x);
  for (int64_t s = 0; s < x.cols(); ++s) {
    for (int u = 0; u < layer.Units(); ++u) {
      int64_t expected = layer.bias_q[u];
      for (int64_t j = 0; j < layer.FanIn(); ++j)
        expected += int64_t{layer.weights_q[u * layer.FanIn() + j]} * x(j, s);
      EXPECT_EQ(acc(u, s), expected);
    }
  }
}

TEST(ForwardKernelsTest, ParallelChunksCoversTheRangeOnceAndRethrows) {
  SetComputeThreads(2);
  std::vector<int> hits(1000, 0);
  kernels::ParallelChunks(1000, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ++hits[i];
  });
  EXPECT_EQ(std::count(hits.begin(), hits.end(), 1), 1000);
  EXPECT_THROW(kernels::ParallelChunks(100, 10,
                                       [](int64_t b, int64_t) {
                                         if (b == 50) throw std::runtime_error("chunk 5");
                                       }),
               std::runtime_error);
  SetComputeThreads(0);
}

}  // namespace
}  // namespace qrepair
