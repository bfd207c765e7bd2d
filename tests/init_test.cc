// The starting-point initializers: ranges and invariants on random networks, layer errors
// against round-to-nearest, determinism, GPTQ's error feedback on a hand-built layer, and the
// "mse" scale rule's search.
#include "qrepair/quant/init.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "qrepair/error.h"
#include "qrepair/quant/quant_config.h"
#include "qrepair/quant/quantize.h"
#include "random_networks.h"

namespace qrepair {
namespace {

constexpr InitMethod kMethods[] = {InitMethod::kRtn, InitMethod::kGptq, InitMethod::kGptqFloat};

// A random dense chain (testing::MakeRandomCase supplies the convolutional ones): wider than
// its dense cases so that GPTQ has correlated columns to work with.
testing::RandomCase RandomDenseCase(std::mt19937_64& rng, int samples) {
  auto uniform = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  testing::RandomCase c;
  c.network.name = "random-dense";
  int width = uniform(2, 24);
  c.network.input_shape = Shape{width, 1, 1};
  const int hidden = uniform(0, 3);
  for (int h = 0; h <= hidden; ++h) {
    const int out = h == hidden ? uniform(2, 6) : uniform(2, 16);
    std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(static_cast<float>(width)));
    Layer dense;
    dense.kind = LayerKind::kDense;
    dense.name = "dense" + std::to_string(h);
    dense.weights.resize(static_cast<size_t>(width) * out);
    for (float& w : dense.weights) w = normal(rng);
    dense.bias.resize(out);
    for (float& b : dense.bias) b = 0.1f * normal(rng);
    c.network.layers.push_back(dense);
    if (h < hidden) {
      Layer relu;
      relu.kind = LayerKind::kRelu;
      relu.name = "relu" + std::to_string(h);
      c.network.layers.push_back(relu);
    }
    width = out;
  }
  ValidateNetwork(c.network, "random-dense");
  QuantConfig config;
  config.defaults.weight_bits = uniform(2, 8);
  config.defaults.granularity = uniform(0, 1) ? Granularity::kPerChannel : Granularity::kPerTensor;
  config.defaults.scale_rule = uniform(0, 3) == 0 ? ScaleRule::kPowerOfTwo : ScaleRule::kMaxAbs;
  config.activation_bits = uniform(3, 8);
  // Correlated inputs (a few latent factors), as real layer inputs are.
  const int factors = uniform(1, 4);
  Eigen::MatrixXf mix = Eigen::MatrixXf::NullaryExpr(c.network.input_shape.Size(), factors, [&rng] {
    return std::uniform_real_distribution<float>(0, 1)(rng);
  });
  Eigen::MatrixXf latent = Eigen::MatrixXf::NullaryExpr(
      factors, samples, [&rng] { return std::uniform_real_distribution<float>(0, 1)(rng); });
  c.inputs = mix * latent / static_cast<float>(factors);
  c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random-dense");
  return c;
}

testing::RandomCase RandomCase(std::mt19937_64& rng, int samples, bool conv) {
  return conv ? testing::MakeRandomCase(rng, samples, true) : RandomDenseCase(rng, samples);
}

// The float layer standing for quantized layer `q`, and its index.
size_t FloatIndex(const Network& net, const QuantLayer& q) {
  for (size_t i = 0; i < net.layers.size(); ++i) {
    if (net.layers[i].IsLinear() && net.layers[i].name == q.name) return i;
  }
  ADD_FAILURE() << "no float layer " << q.name;
  return 0;
}

// W_q x_q (+ b_q) of a linear layer in real units, on input codes.
Eigen::MatrixXd QuantOutput(const QuantLayer& q, const CodeBatch& x, bool with_bias) {
  Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic> acc = LinearAccumulators(q, x);
  const int64_t positions = int64_t{q.output_shape.height} * q.output_shape.width;
  Eigen::MatrixXd y(acc.rows(), acc.cols());
  for (int64_t r = 0; r < acc.rows(); ++r) {
    const int u = static_cast<int>(r / positions);
    for (int64_t s = 0; s < acc.cols(); ++s) {
      const int64_t a = acc(r, s) - (with_bias ? 0 : q.bias_q[u]);
      y(r, s) = static_cast<double>(a) * q.WeightScale(u) * q.input.scale;
    }
  }
  return y;
}

// W x (+ b) of a float layer.
Eigen::MatrixXd FloatOutput(Layer f, const FloatBatch& x, bool with_bias) {
  if (!with_bias) std::fill(f.bias.begin(), f.bias.end(), 0.0f);
  return ForwardFloatLayer(f, x).cast<double>();
}

// Input codes of every layer of `q` on `inputs` (inputs[i] feeds layer i).
std::vector<CodeBatch> LayerInputs(const QuantizedNetwork& q, const FloatBatch& inputs) {
  std::vector<CodeBatch> trace;
  CodeBatch codes = QuantizeInput(q, inputs);
  ForwardInteger(q, codes, &trace);
  trace.insert(trace.begin(), codes);
  return trace;
}

std::vector<FloatBatch> FloatLayerInputs(const Network& net, const FloatBatch& inputs) {
  std::vector<FloatBatch> trace;
  ForwardFloat(net, inputs, &trace);
  trace.insert(trace.begin(), inputs);
  return trace;
}

// Per linear layer, on the inputs `g` itself produces: ||W_g X - W X|| <= ||W_rtn X - W X||.
// Adds the squared errors to `sums` (g's first, RTN's second).
void ExpectGptqNotWorseThanRtn(const testing::RandomCase& c, const QuantizedNetwork& g,
                               std::pair<double, double>* sums = nullptr) {
  std::vector<CodeBatch> inputs = LayerInputs(g, c.inputs);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const QuantLayer& q = g.layers[i];
    if (!q.IsLinear()) continue;
    const Layer& f = c.network.layers[FloatIndex(c.network, q)];
    FloatBatch x = (inputs[i].cast<double>() * q.input.scale).cast<float>();
    Eigen::MatrixXd target = FloatOutput(f, x, false);
    double err_gptq = (QuantOutput(q, inputs[i], false) - target).norm();
    double err_rtn = (QuantOutput(c.quantized.layers[i], inputs[i], false) - target).norm();
    EXPECT_LE(err_gptq, err_rtn * (1 + 1e-6) + 1e-12) << "layer " << q.name;
    if (sums) {
      sums->first += err_gptq * err_gptq;
      sums->second += err_rtn * err_rtn;
    }
  }
}

// Squared errors against the float layer outputs W X_f + b, summed over the linear layers.
struct FloatTargetErrors {
  double init = 0;  // the initialized network on its own inputs
  double rtn = 0;   // the RTN network on its own inputs
};

// Squared distance of the outputs `y` from the float outputs `target`; on the logits (one
// column per sample), from everything that keeps the float top class at least as high and every
// other class at least as low, which is all top-1 asks; before a fused ReLU, from everything
// the ReLU maps to the same output (any y <= 0 where the target is <= 0).
double TargetDistance(const Eigen::MatrixXd& y, const Eigen::MatrixXd& target, bool logits,
                      bool relu = false) {
  if (relu) {
    double sum = 0;
    for (int64_t s = 0; s < y.cols(); ++s) {
      for (int64_t u = 0; u < y.rows(); ++u) {
        const double miss = target(u, s) > 0 ? y(u, s) - target(u, s) : std::max(0.0, y(u, s));
        sum += miss * miss;
      }
    }
    return sum;
  }
  if (!logits) return (y - target).squaredNorm();
  double sum = 0;
  for (int64_t s = 0; s < y.cols(); ++s) {
    Eigen::Index top;
    target.col(s).maxCoeff(&top);
    for (int64_t c = 0; c < y.rows(); ++c) {
      const double miss =
          c == top ? std::min(0.0, y(c, s) - target(c, s)) : std::max(0.0, y(c, s) - target(c, s));
      sum += miss * miss;
    }
  }
  return sum;
}

// TargetDistance for the outputs `y` of layer `i` of `g`: the top-1 box on the logits (one
// column per sample), the ReLU box before a fused ReLU, plain distance otherwise.
double LayerTargetDistance(const QuantizedNetwork& g, size_t i, const Eigen::MatrixXd& y,
                           const Eigen::MatrixXd& target) {
  const QuantLayer& q = g.layers[i];
  const bool logits = static_cast<int>(i) == g.LogitLayer() && q.Units() > 1 &&
                      q.output_shape.height * q.output_shape.width == 1 &&
                      q.activation == QActivation::kNone;
  const bool relu = !logits && q.activation == QActivation::kRelu;
  return TargetDistance(y, target, logits, relu);
}

// Per linear layer, on the inputs X that `g` produces: W_g X + b_g is at least as close to the
// float outputs W X_f + b (TargetDistance) as RTN's weights' on the same X. Adds both
// networks' distances on their own inputs to `sums`.
void ExpectGptqFloatNotWorseThanRtn(const testing::RandomCase& c, const QuantizedNetwork& g,
                                    FloatTargetErrors* sums = nullptr) {
  std::vector<CodeBatch> g_inputs = LayerInputs(g, c.inputs);
  std::vector<CodeBatch> rtn_inputs = LayerInputs(c.quantized, c.inputs);
  std::vector<FloatBatch> float_inputs = FloatLayerInputs(c.network, c.inputs);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    const QuantLayer& q = g.layers[i];
    if (!q.IsLinear()) continue;
    size_t fi = FloatIndex(c.network, q);
    Eigen::MatrixXd target = FloatOutput(c.network.layers[fi], float_inputs[fi], true);
    double err_g = LayerTargetDistance(g, i, QuantOutput(q, g_inputs[i], true), target);
    double err_rtn =
        LayerTargetDistance(g, i, QuantOutput(c.quantized.layers[i], g_inputs[i], true), target);
    EXPECT_LE(err_g, err_rtn * (1 + 1e-6) + 1e-12) << "layer " << q.name;
    if (sums) {
      sums->init += err_g;
      sums->rtn += LayerTargetDistance(
          g, i, QuantOutput(c.quantized.layers[i], rtn_inputs[i], true), target);
    }
  }
}

// Integer weights inside the layer's code range, biases inside int32.
void ExpectInRange(const QuantLayer& q) {
  for (int32_t w : q.weights_q) {
    ASSERT_GE(w, q.WeightMin()) << q.name;
    ASSERT_LE(w, q.WeightMax()) << q.name;
  }
  for (int64_t bias : q.bias_q) {
    ASSERT_GE(bias, -2147483648LL) << q.name;
    ASSERT_LE(bias, 2147483647LL) << q.name;
  }
}

void ExpectSameShapeAndInRange(const QuantizedNetwork& before, const QuantizedNetwork& after) {
  ASSERT_EQ(before.layers.size(), after.layers.size());
  for (size_t i = 0; i < before.layers.size(); ++i) {
    const QuantLayer& a = before.layers[i];
    const QuantLayer& b = after.layers[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.weight_scales, b.weight_scales);
    EXPECT_EQ(a.input.scale, b.input.scale);
    EXPECT_EQ(a.output.scale, b.output.scale);
    EXPECT_TRUE(a.requant == b.requant);
    ASSERT_EQ(a.weights_q.size(), b.weights_q.size());
    ASSERT_EQ(a.bias_q.size(), b.bias_q.size());
    ExpectInRange(b);
  }
}

TEST(InitTest, ParsesMethodNamesAndRejectsOthersAsUsageErrors) {
  EXPECT_EQ(ParseInitMethod("rtn"), InitMethod::kRtn);
  EXPECT_EQ(ParseInitMethod("gptq"), InitMethod::kGptq);
  EXPECT_EQ(ParseInitMethod("gptq-float"), InitMethod::kGptqFloat);
  for (InitMethod m : kMethods) EXPECT_EQ(ParseInitMethod(InitMethodName(m)), m);
  try {
    ParseInitMethod("gptq_float");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_NE(std::string(e.what()).find("--init: unknown initializer 'gptq_float'"),
              std::string::npos)
        << e.what();
  }
}

// --augment auto: shifted copies for images (by the network's input or the data file's sample
// shape), none for CSV rows, flat rows and non-image inputs such as ACAS Xu's five numbers.
TEST(InitTest, AutoAugmentationChoosesShiftsForImagesOnly) {
  const Augmentation automatic = ParseAugmentation("auto");
  ASSERT_TRUE(automatic.automatic);
  auto choose = [&](const std::vector<int64_t>& sample_shape, Shape input) {
    std::string why;
    const Augmentation a = ResolveAugmentation(automatic, sample_shape, input, &why);
    EXPECT_FALSE(why.empty());
    return AugmentationName(a);
  };
  const Shape flat784{784, 1, 1}, image{1, 28, 28}, rgb{3, 32, 32}, acas{5, 1, 1};
  EXPECT_EQ(choose({28, 28}, flat784), "shift8:28x28");     // IDX [N, 28, 28], an MLP
  EXPECT_EQ(choose({1, 28, 28}, flat784), "shift8:28x28");  // .npy [N, C, H, W]
  EXPECT_EQ(choose({784}, image), "shift8");                // the network's input is C x H x W
  EXPECT_EQ(choose({}, rgb), "shift8");                     // CSV rows into a CNN
  EXPECT_EQ(choose({}, flat784), "none");                   // CSV rows, flat network
  EXPECT_EQ(choose({784}, flat784), "none");                // flat .npy rows
  EXPECT_EQ(choose({5}, acas), "none");                     // ACAS Xu
  EXPECT_EQ(choose({}, acas), "none");
  EXPECT_EQ(choose({28, 1}, flat784), "none");  // a column is not an image
  std::string why;
  EXPECT_EQ(AugmentationName(ResolveAugmentation(ParseAugmentation("none"), {28, 28}, image, &why)),
            "none");  // an explicit choice is kept
  EXPECT_EQ(why, "given");
}

TEST(InitTest, RtnReturnsTheSameNetwork) {
  std::mt19937_64 rng(7);
  testing::RandomCase c = RandomCase(rng, 32, false);
  QuantizedNetwork r = InitializeWeights(c.network, c.quantized, c.inputs, InitMethod::kRtn);
  for (size_t i = 0; i < r.layers.size(); ++i) {
    EXPECT_EQ(r.layers[i].weights_q, c.quantized.layers[i].weights_q);
    EXPECT_EQ(r.layers[i].bias_q, c.quantized.layers[i].bias_q);
  }
}

// Stopped before the first layer (a signal, a deadline already past): the network comes back
// unchanged, and the summary says that nothing was done.
TEST(InitTest, StopBeforeTheFirstLayerReturnsTheNetworkUnchanged) {
  std::mt19937_64 rng(8);
  testing::RandomCase c = RandomCase(rng, 32, false);
  for (InitMethod m : {InitMethod::kGptq, InitMethod::kGptqFloat}) {
    InitSummary summary;
    QuantizedNetwork r = InitializeWeights(
        c.network, c.quantized, c.inputs, m, [] { return true; }, 1024, &summary);
    for (size_t i = 0; i < r.layers.size(); ++i) {
      EXPECT_EQ(r.layers[i].weights_q, c.quantized.layers[i].weights_q);
      EXPECT_EQ(r.layers[i].bias_q, c.quantized.layers[i].bias_q);
    }
    EXPECT_FALSE(summary.complete);
    EXPECT_EQ(summary.rerounded, 0);
    EXPECT_GE(summary.layers, 2);
    EXPECT_EQ(summary.stopped_at, c.quantized.layers[0].name);
  }
}

// Stopped at any poll inside the init: the layers before the one it stopped at are those of a
// whole init (a layer depends only on the layers before it), that layer and the ones after it
// keep their RTN weights. Every poll is tried, so a stop inside each piece of a layer's work
// (Hessian, solve, rounding blocks, products) is covered.
TEST(InitTest, StopInsideALayerKeepsTheLayersFinishedBefore) {
  std::mt19937_64 rng(9);
  for (int trial = 0; trial < 4; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    testing::RandomCase c = RandomCase(rng, 300, trial % 2 == 1);
    for (InitMethod m : {InitMethod::kGptq, InitMethod::kGptqFloat}) {
      SCOPED_TRACE(InitMethodName(m));
      InitSummary full_summary;
      int polls = 0;
      const QuantizedNetwork full = InitializeWeights(
          c.network, c.quantized, c.inputs, m, [&polls] { return ++polls < 0; }, 1024,
          &full_summary);
      ASSERT_TRUE(full_summary.complete);
      ASSERT_EQ(full_summary.rerounded, full_summary.layers);
      ASSERT_GT(polls, full_summary.layers);  // polled inside layers too, not only between them
      for (int stop_at = 1; stop_at <= polls; ++stop_at) {
        int count = 0;
        InitSummary summary;
        const QuantizedNetwork r = InitializeWeights(
            c.network, c.quantized, c.inputs, m, [&] { return ++count >= stop_at; }, 1024,
            &summary);
        ASSERT_FALSE(summary.complete) << "stop at poll " << stop_at;
        int linear = 0;
        for (size_t i = 0; i < r.layers.size(); ++i) {
          if (!r.layers[i].IsLinear()) continue;
          const QuantLayer& expected =
              linear < summary.rerounded ? full.layers[i] : c.quantized.layers[i];
          EXPECT_EQ(r.layers[i].weights_q, expected.weights_q)
              << "stop at poll " << stop_at << ", layer " << i;
          EXPECT_EQ(r.layers[i].bias_q, expected.bias_q)
              << "stop at poll " << stop_at << ", layer " << i;
          if (linear == summary.rerounded) EXPECT_EQ(summary.stopped_at, r.layers[i].name);
          ++linear;
        }
      }
    }
  }
}

TEST(InitTest, WeightsStayInRangeAndScalesAreKeptOnRandomNetworks) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    testing::RandomCase c = RandomCase(rng, 48, trial % 3 == 0);
    if (trial % 5 == 0) {  // weights-only mode
      QuantConfig config = c.quantized.config;
      config.activation_bits = 0;
      c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
    }
    const QuantizedNetwork original = c.quantized;
    for (InitMethod m : kMethods) {
      QuantizedNetwork g = InitializeWeights(c.network, c.quantized, c.inputs, m);
      ExpectSameShapeAndInRange(c.quantized, g);
      PredictQuantized(g, c.inputs);  // runs: accumulators stay exact
    }
    for (size_t i = 0; i < original.layers.size(); ++i) {  // the input is not modified
      ASSERT_EQ(original.layers[i].weights_q, c.quantized.layers[i].weights_q);
    }
  }
}

// At most RTN's error on every layer (rows where GPTQ's greedy rounding loses keep RTN's), and
// much lower in total.
TEST(InitTest, GptqLayerErrorIsAtMostRtnsOnCalibrationData) {
  std::mt19937_64 rng(23);
  std::pair<double, double> sums;
  for (int trial = 0; trial < 200; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    testing::RandomCase c = RandomCase(rng, 64, trial % 3 == 0);
    ExpectGptqNotWorseThanRtn(
        c, InitializeWeights(c.network, c.quantized, c.inputs, InitMethod::kGptq), &sums);
  }
  EXPECT_LT(sums.first, 0.85 * sums.second);  // 0.75 with this seed
}

// Each layer is at most RTN's error on the same inputs. End to end, each network on its own
// inputs, a layer can still end worse (about 1 in 25 of the later layers of these small random
// networks, where RTN is already close), but the sum over layers is far lower.
TEST(InitTest, GptqFloatErrorAgainstFloatTargetsIsAtMostRtns) {
  std::mt19937_64 rng(31);
  FloatTargetErrors sums;
  for (int trial = 0; trial < 200; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    testing::RandomCase c = RandomCase(rng, 64, trial % 3 == 0);
    ExpectGptqFloatNotWorseThanRtn(
        c, InitializeWeights(c.network, c.quantized, c.inputs, InitMethod::kGptqFloat), &sums);
  }
  EXPECT_LT(sums.init, 0.5 * sums.rtn);  // 0.31 with this seed (ReLU layers by the ReLU box)
}

// The init carries the calibration batch between linear layers in chunks: with 2600 samples
// (chunks of 1024: two whole ones and a partial one; and of 1000 and 7) the result is the one of
// a single chunk, weight for weight.
TEST(InitTest, ChunkedCalibrationGivesTheSameWeights) {
  std::mt19937_64 rng(59);
  for (int trial = 0; trial < 8; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    testing::RandomCase c = RandomCase(rng, 2600, trial % 2 == 0);
    for (InitMethod m : kMethods) {
      const QuantizedNetwork whole =
          InitializeWeights(c.network, c.quantized, c.inputs, m, {}, 1 << 30);
      for (int64_t chunk : {1024, 1000, 7}) {
        const QuantizedNetwork chunked =
            InitializeWeights(c.network, c.quantized, c.inputs, m, {}, chunk);
        for (size_t i = 0; i < whole.layers.size(); ++i) {
          EXPECT_EQ(chunked.layers[i].weights_q, whole.layers[i].weights_q)
              << InitMethodName(m) << ", chunk " << chunk << ", layer " << i;
          EXPECT_EQ(chunked.layers[i].bias_q, whole.layers[i].bias_q)
              << InitMethodName(m) << ", chunk " << chunk << ", layer " << i;
        }
      }
    }
  }
}

TEST(InitTest, IsDeterministic) {
  std::mt19937_64 rng(43);
  for (int trial = 0; trial < 20; ++trial) {
    testing::RandomCase c = RandomCase(rng, 40, trial % 2 == 0);
    for (InitMethod m : kMethods) {
      QuantizedNetwork a = InitializeWeights(c.network, c.quantized, c.inputs, m);
      QuantizedNetwork b = InitializeWeights(c.network, c.quantized, c.inputs, m);
      for (size_t i = 0; i < a.layers.size(); ++i) {
        ASSERT_EQ(a.layers[i].weights_q, b.layers[i].weights_q);
        ASSERT_EQ(a.layers[i].bias_q, b.layers[i].bias_q);
      }
    }
  }
}

// One dense layer over inputs (t, t, v): the first two inputs are always equal. Weights
// (0.15, 0.15, 0.3) at 3 bits have scale 0.1 and codes (1.5, 1.5, 3): RTN rounds both halves
// up to (2, 2, 3), 0.1 t too much. GPTQ rounds the first up and feeds the error into the
// second, which then rounds down: (2, 1, 3) computes the float output exactly.
// A network of one dense unit over three inputs; the caller fills the inputs and quantizes.
testing::RandomCase OneDenseUnit(const std::string& name, std::vector<float> weights) {
  testing::RandomCase c;
  c.network.name = name;
  c.network.input_shape = Shape{3, 1, 1};
  Layer dense;
  dense.kind = LayerKind::kDense;
  dense.name = "dense";
  dense.weights = std::move(weights);
  dense.bias = {0.05f};
  c.network.layers.push_back(dense);
  ValidateNetwork(c.network, name);
  return c;
}

testing::RandomCase HandBuiltCorrelatedInputs() {
  testing::RandomCase c = OneDenseUnit("hand", {0.15f, 0.15f, 0.3f});
  c.inputs.resize(3, 100);
  for (int s = 0; s < 100; ++s) {
    float t = static_cast<float>(s % 10) / 9.0f;
    c.inputs(0, s) = c.inputs(1, s) = t;
    c.inputs(2, s) = static_cast<float>((s * 7) % 13) / 12.0f;
  }
  QuantConfig config;
  config.defaults.weight_bits = 3;
  c.quantized = QuantizeNetwork(c.network, config, c.inputs, "hand");
  return c;
}

TEST(InitTest, GptqSpreadsTheRoundingErrorOntoCorrelatedInputs) {
  testing::RandomCase c = HandBuiltCorrelatedInputs();
  EXPECT_EQ(c.quantized.layers[0].weights_q, (std::vector<int32_t>{2, 2, 3}));
  QuantizedNetwork g = InitializeWeights(c.network, c.quantized, c.inputs, InitMethod::kGptq);
  EXPECT_EQ(g.layers[0].weights_q, (std::vector<int32_t>{2, 1, 3}));
  // For gptq-float only the sum of the two codes is fixed by the data (see the next test).
  g = InitializeWeights(c.network, c.quantized, c.inputs, InitMethod::kGptqFloat);
  EXPECT_EQ(g.layers[0].weights_q[0] + g.layers[0].weights_q[1], 3);
  EXPECT_EQ(g.layers[0].weights_q[2], 3);
  ExpectGptqNotWorseThanRtn(c,
                            InitializeWeights(c.network, c.quantized, c.inputs, InitMethod::kGptq));
}

// Inputs 0 and 1 are always equal, so no data tells how their weights (0.26, 0) should be
// split; only the sum of their codes matters (3, with the bias absorbing the mean error, which
// beats RTN's bias). A ridge pulled towards zero splits the weight evenly, (0.13, 0.13), and
// rounds that to codes (1, 2); gptq-float is pulled towards the float weights and keeps (3, 0).
// The inputs are multiples of 1/15 up to 1, exact in 8-bit codes of scale 1/255.
TEST(InitTest, GptqFloatKeepsTheFloatWeightsWhereTheDataCannotTell) {
  testing::RandomCase c = OneDenseUnit("duplicated", {0.26f, 0.0f, 0.3f});
  c.inputs.resize(3, 96);
  for (int s = 0; s < 96; ++s) {
    c.inputs(0, s) = c.inputs(1, s) = static_cast<float>(s % 16) / 15.0f;
    c.inputs(2, s) = static_cast<float>((s * 7) % 16) / 15.0f;
  }
  QuantConfig config;
  config.defaults.weight_bits = 3;
  c.quantized = QuantizeNetwork(c.network, config, c.inputs, "duplicated");
  ASSERT_EQ(c.quantized.layers[0].weights_q, (std::vector<int32_t>{3, 0, 3}));
  QuantizedNetwork g = InitializeWeights(c.network, c.quantized, c.inputs, InitMethod::kGptqFloat);
  EXPECT_EQ(g.layers[0].weights_q, (std::vector<int32_t>{3, 0, 3}));
}

// Two layers where RTN of the first shifts what the second sees: gptq-float re-solves the
// second layer (its bias included) towards the float outputs.
TEST(InitTest, GptqFloatCompensatesTheErrorOfEarlierLayers) {
  testing::RandomCase c = HandBuiltCorrelatedInputs();
  Layer relu;
  relu.kind = LayerKind::kRelu;
  relu.name = "relu";
  Layer out;
  out.kind = LayerKind::kDense;
  out.name = "out";
  out.weights = {1.0f, -0.7f};
  out.bias = {0.2f, 0.1f};
  c.network.layers.push_back(relu);
  c.network.layers.push_back(out);
  ValidateNetwork(c.network, "hand");
  QuantConfig config;
  config.defaults.weight_bits = 3;
  c.quantized = QuantizeNetwork(c.network, config, c.inputs, "hand");
  QuantizedNetwork g = InitializeWeights(c.network, c.quantized, c.inputs, InitMethod::kGptqFloat);
  ExpectGptqFloatNotWorseThanRtn(c, g);
  ExpectSameShapeAndInRange(c.quantized, g);
}

// The "mse" scale rule ---------------------------------------------------------------------

TEST(InitTest, ConfigReadsAndWritesTheMseScaleRule) {
  nlohmann::json j = {{"weights", {{"bits", 4}, {"scale", "mse"}}}};
  const QuantConfig c = ParseQuantConfig(j, "q.json");
  EXPECT_EQ(c.defaults.scale_rule, ScaleRule::kMse);
  EXPECT_EQ(nlohmann::json(c)["weights"]["scale"], "mse");
  EXPECT_EQ(ParseQuantConfig(nlohmann::json(c), "again").defaults.scale_rule, ScaleRule::kMse);
  j["weights"]["scale"] = "mmse";
  try {
    ParseQuantConfig(j, "q.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("$.weights.scale"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("\"mse\""), std::string::npos) << e.what();
  }
}

// Squared rounding error of `n` weights at scale `s` with codes in [-qmax, qmax].
double RoundingError(const float* w, int64_t n, double s, int64_t qmax) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double q =
        std::clamp(std::nearbyint(w[i] / s), -static_cast<double>(qmax), static_cast<double>(qmax));
    sum += (w[i] - q * s) * (w[i] - q * s);
  }
  return sum;
}

// Round to nearest with "mse": each scale (per tensor, per unit) is max|w| / qmax times a factor
// of the grid 1.00, 0.99, ..., 0.20, and no factor of the grid rounds the weights with a smaller
// squared error (some layers get one outlier weight of 10 standard deviations).
TEST(InitTest, MseWeightScalesMinimizeTheRoundingErrorOverTheirGrid) {
  std::mt19937_64 rng(71);
  for (int trial = 0; trial < 60; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    Layer layer;
    layer.kind = LayerKind::kDense;
    const int units = 1 + trial % 5;
    const int fan_in = 4 + (trial * 7) % 60;
    layer.input_shape = Shape{fan_in, 1, 1};
    layer.output_shape = Shape{units, 1, 1};
    std::normal_distribution<float> normal(0.0f, 1.0f);
    layer.weights.resize(static_cast<size_t>(units) * fan_in);
    for (float& w : layer.weights) w = normal(rng);
    if (trial % 2 == 0) layer.weights[trial % layer.weights.size()] = 10.0f;  // an outlier
    layer.bias.assign(units, 0.0f);
    LayerQuantSpec spec;
    spec.weight_bits = 2 + trial % 5;
    spec.granularity = trial % 3 == 0 ? Granularity::kPerChannel : Granularity::kPerTensor;
    spec.scale_rule = ScaleRule::kMse;
    const std::vector<double> scales = WeightScales(layer, spec);
    spec.scale_rule = ScaleRule::kMaxAbs;
    const std::vector<double> max_abs = WeightScales(layer, spec);
    ASSERT_EQ(scales.size(), max_abs.size());
    const int64_t qmax = SignedMax(spec.weight_bits);
    const int64_t n = scales.size() == 1 ? static_cast<int64_t>(layer.weights.size()) : fan_in;
    for (size_t k = 0; k < scales.size(); ++k) {
      const float* w = layer.weights.data() + k * n;
      double m = 0;
      for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::abs(w[i])));
      EXPECT_DOUBLE_EQ(max_abs[k], m / static_cast<double>(qmax));
      const double factor = scales[k] / max_abs[k];
      EXPECT_NEAR(factor * 100, std::round(factor * 100), 1e-6);
      EXPECT_GE(factor, 0.2 - 1e-9);
      EXPECT_LE(factor, 1.0 + 1e-9);
      const double chosen = RoundingError(w, n, scales[k], qmax);
      for (int f = 20; f <= 100; ++f) {
        EXPECT_LE(chosen, RoundingError(w, n, max_abs[k] * f / 100.0, qmax) * (1 + 1e-9))
            << "factor " << f;
      }
    }
  }
  // 4096 Gaussian weights: their largest is about 3.5 standard deviations, and at 3 or 4 bits
  // the squared error is smallest when clipping near 2.5 (ACIQ, Banner et al. 2019).
  Layer wide;
  wide.kind = LayerKind::kDense;
  wide.input_shape = Shape{4096, 1, 1};
  wide.output_shape = Shape{1, 1, 1};
  std::normal_distribution<float> normal(0.0f, 1.0f);
  wide.weights.resize(4096);
  for (float& w : wide.weights) w = normal(rng);
  wide.bias = {0.0f};
  for (int bits : {3, 4}) {
    LayerQuantSpec spec;
    spec.weight_bits = bits;
    spec.scale_rule = ScaleRule::kMse;
    const double mse = WeightScales(wide, spec)[0];
    spec.scale_rule = ScaleRule::kMaxAbs;
    const double max_abs = WeightScales(wide, spec)[0];
    EXPECT_LT(mse / max_abs, 0.9) << bits << " bits";
    EXPECT_GT(mse / max_abs, 0.4) << bits << " bits";
  }
}

// The network as QuantizeNetwork makes it with `rule`.
testing::RandomCase WithScaleRule(testing::RandomCase c, ScaleRule rule) {
  QuantConfig config = c.quantized.config;
  config.defaults.scale_rule = rule;
  c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
  return c;
}

// The inits with "mse" try the max-abs scale among others, so on the first linear layer (whose
// inputs both networks share) their error is at most the max-abs init's: against W X for gptq,
// against the float outputs (their box) for gptq-float. Summed over the cases it is far lower.
TEST(InitTest, MseInitErrorOnTheFirstLayerIsAtMostTheMaxAbsInits) {
  std::mt19937_64 rng(83);
  for (InitMethod m : {InitMethod::kGptq, InitMethod::kGptqFloat}) {
    double sum_mse = 0;
    double sum_max_abs = 0;
    for (int trial = 0; trial < 60; ++trial) {
      SCOPED_TRACE(std::string(InitMethodName(m)) + " trial " + std::to_string(trial));
      testing::RandomCase c = RandomCase(rng, 48, trial % 3 == 0);
      const testing::RandomCase a = WithScaleRule(c, ScaleRule::kMaxAbs);
      const testing::RandomCase b = WithScaleRule(c, ScaleRule::kMse);
      const QuantizedNetwork ga = InitializeWeights(a.network, a.quantized, a.inputs, m);
      const QuantizedNetwork gb = InitializeWeights(b.network, b.quantized, b.inputs, m);
      size_t i = 0;
      while (!ga.layers[i].IsLinear()) ++i;
      ASSERT_EQ(ga.layers[i].input.scale, gb.layers[i].input.scale);
      const CodeBatch x = LayerInputs(ga, c.inputs)[i];
      const Layer& f = c.network.layers[FloatIndex(c.network, ga.layers[i])];
      double ea = 0;
      double eb = 0;
      if (m == InitMethod::kGptq) {
        const FloatBatch xf = (x.cast<double>() * ga.layers[i].input.scale).cast<float>();
        const Eigen::MatrixXd target = FloatOutput(f, xf, false);
        ea = (QuantOutput(ga.layers[i], x, false) - target).squaredNorm();
        eb = (QuantOutput(gb.layers[i], x, false) - target).squaredNorm();
      } else {
        const size_t fi = FloatIndex(c.network, ga.layers[i]);
        const Eigen::MatrixXd target =
            FloatOutput(f, FloatLayerInputs(c.network, c.inputs)[fi], true);
        ea = LayerTargetDistance(ga, i, QuantOutput(ga.layers[i], x, true), target);
        eb = LayerTargetDistance(ga, i, QuantOutput(gb.layers[i], x, true), target);
      }
      EXPECT_LE(eb, ea * (1 + 1e-6) + 1e-12);
      sum_mse += eb;
      sum_max_abs += ea;
    }
    EXPECT_LT(sum_mse, 0.9 * sum_max_abs) << InitMethodName(m);
  }
}

// What the "mse" inits change besides the weights stays coherent: every scale is a factor in
// [0.2, 1] of the max-abs one, the multipliers are the ones the scales give, the logits' int32
// code is at the smallest weight scale, weights and biases are in range, and the integer pass
// runs (its accumulators stay exact).
TEST(InitTest, MseInitsKeepScalesMultipliersAndRangesCoherent) {
  std::mt19937_64 rng(89);
  for (int trial = 0; trial < 60; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    testing::RandomCase c = WithScaleRule(RandomCase(rng, 48, trial % 3 == 0), ScaleRule::kMse);
    if (trial % 5 == 0) {  // weights-only mode
      QuantConfig config = c.quantized.config;
      config.activation_bits = 0;
      c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
    }
    for (InitMethod m : kMethods) {
      const QuantizedNetwork g = InitializeWeights(c.network, c.quantized, c.inputs, m);
      ASSERT_EQ(g.layers.size(), c.quantized.layers.size());
      for (size_t i = 0; i < g.layers.size(); ++i) {
        const QuantLayer& q = g.layers[i];
        if (!q.IsLinear()) continue;
        LayerQuantSpec spec = g.config.ForLayer(q.name);
        spec.scale_rule = ScaleRule::kMaxAbs;
        const std::vector<double> max_abs =
            WeightScales(c.network.layers[FloatIndex(c.network, q)], spec);
        ASSERT_EQ(q.weight_scales.size(), max_abs.size());
        for (size_t k = 0; k < max_abs.size(); ++k) {
          EXPECT_GE(q.weight_scales[k], 0.2 * max_abs[k] * (1 - 1e-9)) << q.name;
          EXPECT_LE(q.weight_scales[k], max_abs[k] * (1 + 1e-9)) << q.name;
        }
        if (g.float_activations) {
          EXPECT_TRUE(q.requant.empty()) << q.name;
        } else {
          QuantLayer fresh = q;
          fresh.UpdateMultipliers();
          EXPECT_TRUE(fresh.requant == q.requant) << q.name;
        }
        if (static_cast<int>(i) == g.LogitLayer() && q.activation == QActivation::kNone &&
            !g.float_activations) {
          EXPECT_DOUBLE_EQ(
              q.output.scale,
              *std::min_element(q.weight_scales.begin(), q.weight_scales.end()) * q.input.scale);
        }
        ExpectInRange(q);
        EXPECT_EQ(q.bias_q.empty(), g.float_activations) << q.name;
      }
      PredictQuantized(g, c.inputs);
    }
  }
}

TEST(InitTest, AugmentationShiftsEachImageByOnePixelWithTheEdgeRepeated) {
  // Two channels of a 2x3 image, values 100*channel + 10*row + column; a second sample + 1000.
  FloatBatch x(12, 2);
  for (int c = 0; c < 2; ++c) {
    for (int y = 0; y < 2; ++y) {
      for (int col = 0; col < 3; ++col) {
        x((c * 2 + y) * 3 + col, 0) = static_cast<float>(100 * c + 10 * y + col);
        x((c * 2 + y) * 3 + col, 1) = static_cast<float>(1000 + 100 * c + 10 * y + col);
      }
    }
  }
  Shape image{2, 2, 3};
  FloatBatch four = AugmentCalibration(x, ParseAugmentation("shift"), image);
  ASSERT_EQ(four.rows(), 12);
  ASSERT_EQ(four.cols(), 10);
  EXPECT_EQ(four.leftCols(2), x);
  // Columns: originals, then per direction (right, left, down, up) one per sample.
  // Shift right (dx = +1) of sample 0: each row becomes [v0 v0 v1]; column 2 of channel 1, row 1
  // comes from column 1.
  EXPECT_EQ(four(0, 2), 0.0f);
  EXPECT_EQ(four(1, 2), 0.0f);
  EXPECT_EQ(four(2, 2), 1.0f);
  EXPECT_EQ(four((1 * 2 + 1) * 3 + 2, 2), 111.0f);
  // Shift left of sample 1: [v1 v2 v2].
  EXPECT_EQ(four(0, 5), 1001.0f);
  EXPECT_EQ(four(2, 5), 1002.0f);
  // Shift down (dy = +1) of sample 0: row 0 repeated, row 1 = old row 0.
  EXPECT_EQ(four(3, 6), 0.0f);
  EXPECT_EQ(four(4, 6), 1.0f);
  // Shift up of sample 1: row 0 = old row 1.
  EXPECT_EQ(four(0, 9), 1010.0f);
  // shift8 adds the diagonals; a flat input needs its size; sizes must divide.
  EXPECT_EQ(AugmentCalibration(x, ParseAugmentation("shift8"), image).cols(), 18);
  Shape flat{12, 1, 1};
  EXPECT_THROW(AugmentCalibration(x, ParseAugmentation("shift"), flat), Error);
  EXPECT_EQ(AugmentCalibration(x, ParseAugmentation("shift:2x6"), flat).cols(), 10);
  EXPECT_THROW(AugmentCalibration(x, ParseAugmentation("shift:5x5"), flat), Error);
  EXPECT_EQ(AugmentCalibration(x, ParseAugmentation("none"), flat), x);
  for (const char* bad :
       {"shift:", "shift:28", "shift:28x", "shift:1x5", "shift:5x5x", "mixup", "shift4"}) {
    EXPECT_THROW(ParseAugmentation(bad), Error) << bad;
  }
  EXPECT_EQ(AugmentationName(ParseAugmentation("shift8:28x28")), "shift8:28x28");
}

}  // namespace
}  // namespace qrepair
