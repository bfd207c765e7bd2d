// Neuron ranking: a deliberately broken neuron is found, the formulas give their textbook values,
// the margin gradient matches finite differences, and rankings are deterministic.
#include "qrepair/rank/ranking.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"
#include "qrepair/rank/sample_split.h"
#include "random_networks.h"
#include "rank/margin_gradient.h"
#include "rank/spectrum_formulas.h"

namespace qrepair {
namespace {

double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

Dataset ToDataset(const FloatBatch& x) {
  Dataset d;
  d.source = "test";
  d.rows = x.cols();
  d.features = x.rows();
  d.values.assign(x.data(), x.data() + x.size());  // column-per-sample = row-major rows
  return d;
}

// 4 inputs -> 6 hidden (ReLU) -> 2 logits. Hidden unit 2 pushes class 0 up and class 1 down.
// Input 0 is zero on even samples and 1 on odd ones, so a broken weight from input 0 into
// hidden unit 2 shows only on odd samples.
struct BrokenCase {
  Network network;
  QuantizedNetwork quantized;
  Dataset data;
  SampleSplit split;
};

constexpr int kBrokenLayer = 0;
constexpr int kBrokenUnit = 2;
// Rounding moves every neuron by up to about 2 quanta here; the broken weight moves its neuron by
// hundreds. Flags above 3 quanta are the broken weight's doing.
constexpr double kThreshold = 3.0;

BrokenCase MakeBrokenCase() {
  BrokenCase c;
  Network& net = c.network;
  net.name = "tiny";
  net.input_shape = Shape{4, 1, 1};
  Layer hidden;
  hidden.kind = LayerKind::kDense;
  hidden.name = "hidden";
  hidden.weights = {0.3f, 0.8f,  -0.4f, 0.5f, -0.2f, 0.6f, 0.7f, -0.3f, 0.1f, 0.5f, 0.4f,  0.6f,
                    0.4f, -0.5f, 0.3f,  0.8f, -0.6f, 0.2f, 0.9f, 0.1f,  0.5f, 0.4f, -0.2f, -0.7f};
  hidden.bias = {0.1f, 0.0f, 0.05f, -0.1f, 0.2f, 0.1f};
  Layer relu;
  relu.kind = LayerKind::kRelu;
  relu.name = "relu";
  Layer logits;
  logits.kind = LayerKind::kDense;
  logits.name = "logits";
  logits.weights = {0.7f, -0.4f, 3.0f, 0.3f, -0.6f, 0.5f, -0.3f, 0.8f, -3.0f, 0.6f, 0.4f, -0.2f};
  logits.bias = {0.0f, 0.0f};
  net.layers = {hidden, relu, logits};
  ValidateNetwork(net, "tiny");

  const int n = 600;
  std::mt19937_64 rng(7);
  FloatBatch x(4, n);
  for (int s = 0; s < n; ++s) {
    x(0, s) = s % 2 ? 1.0f : 0.0f;
    for (int i = 1; i < 4; ++i) x(i, s) = static_cast<float>(Uniform01(rng));
  }
  // Bias class 1 so that about 70% of the samples are class 1 in float.
  FloatBatch z = ForwardFloat(net, x);
  std::vector<float> diff(n);
  for (int s = 0; s < n; ++s) diff[s] = z(0, s) - z(1, s);
  std::sort(diff.begin(), diff.end());
  net.layers[2].bias[1] = diff[n * 7 / 10];

  // Fine quantization, so that the broken weight is the only cause of failures.
  QuantConfig config;
  config.defaults.weight_bits = 12;
  config.activation_bits = 12;
  c.quantized = QuantizeNetwork(net, config, x, "tiny");
  // The broken quantization: the weight from input 0 into hidden unit 2 jumps to the maximum.
  QuantLayer& broken = c.quantized.layers[kBrokenLayer];
  broken.weights_q[kBrokenUnit * 4 + 0] = static_cast<int32_t>(broken.WeightMax());
  c.data = ToDataset(x);
  c.split = SplitSamples(net, c.quantized, c.data, RepairTarget::kFloat);
  return c;
}

std::string Describe(const std::vector<NeuronScore>& ranking) {
  std::string out;
  for (size_t i = 0; i < ranking.size() && i < 4; ++i) {
    const NeuronScore& n = ranking[i];
    out += "\n  " + n.layer_name + "/" + std::to_string(n.unit) + " score " +
           std::to_string(n.score) + " failing " + std::to_string(n.failing_active) + " passing " +
           std::to_string(n.passing_active);
  }
  return out;
}

std::vector<NeuronScore> Rank(const BrokenCase& c, RankMethod method) {
  RankOptions options;
  options.method = method;
  options.deviation_threshold = kThreshold;
  return RankNeurons(c.network, c.quantized, c.data, c.split, options);
}

TEST(RankingTest, BrokenNeuronRanksFirstForEveryMethodButRandom) {
  BrokenCase c = MakeBrokenCase();
  ASSERT_GT(c.split.failing.size(), 50u);
  ASSERT_GT(c.split.passing.size(), 50u);
  for (const std::string& name : RankMethodNames()) {
    RankMethod method = ParseRankMethod(name);
    if (method == RankMethod::kRandom) continue;
    std::vector<NeuronScore> ranking = Rank(c, method);
    ASSERT_EQ(ranking.size(), 8u) << name;
    EXPECT_EQ(ranking[0].layer, kBrokenLayer) << name << Describe(ranking);
    EXPECT_EQ(ranking[0].unit, kBrokenUnit) << name << Describe(ranking);
    if (!IsSpectrumMethod(method)) {
      EXPECT_GT(ranking[0].score, ranking[1].score) << name << Describe(ranking);
      continue;
    }
    // A spectrum cannot tell a deviation from the deviations it causes downstream (here: the
    // logits, flagged on the same samples); such ties go to the earlier layer, the cause.
    for (size_t i = 1; i < ranking.size() && ranking[i].score == ranking[0].score; ++i) {
      EXPECT_GT(ranking[i].layer, kBrokenLayer) << name << Describe(ranking);
    }
  }
}

TEST(RankingTest, BrokenNeuronIsFlaggedOnEveryFailingSample) {
  BrokenCase c = MakeBrokenCase();
  std::vector<NeuronScore> ranking = Rank(c, RankMethod::kOchiai);
  EXPECT_EQ(ranking[0].failing_active, static_cast<int64_t>(c.split.failing.size()));
  EXPECT_LT(ranking[0].passing_active, static_cast<int64_t>(c.split.passing.size()) / 2);
}

void ExpectSameRanking(const std::vector<NeuronScore>& a, const std::vector<NeuronScore>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].layer, b[i].layer) << i;
    EXPECT_EQ(a[i].unit, b[i].unit) << i;
    EXPECT_EQ(a[i].score, b[i].score) << i;
    EXPECT_EQ(a[i].failing_active, b[i].failing_active) << i;
    EXPECT_EQ(a[i].passing_active, b[i].passing_active) << i;
  }
}

bool SortedByScoreThenPosition(const std::vector<NeuronScore>& r) {
  for (size_t i = 1; i < r.size(); ++i) {
    const NeuronScore& a = r[i - 1];
    const NeuronScore& b = r[i];
    if (a.score < b.score) return false;
    if (a.score == b.score && std::make_pair(a.layer, a.unit) >= std::make_pair(b.layer, b.unit)) {
      return false;
    }
  }
  return true;
}

// A random MLP (dense layers with ReLU or LeakyReLU) and its quantized version.
// (testing::MakeRandomCase is used for the convolutional ones.)
testing::RandomCase RandomMlp(std::mt19937_64& rng, int samples) {
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  testing::RandomCase c;
  Network& net = c.network;
  net.name = "mlp";
  net.input_shape = Shape{uniform(3, 10), 1, 1};
  int width = net.input_shape.channels;
  const int hidden = uniform(1, 3);
  for (int h = 0; h <= hidden; ++h) {
    int out = h == hidden ? uniform(2, 5) : uniform(2, 10);
    std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(static_cast<float>(width)));
    Layer dense;
    dense.kind = LayerKind::kDense;
    dense.name = "dense" + std::to_string(h);
    dense.weights.resize(static_cast<size_t>(width) * out);
    for (float& w : dense.weights) w = normal(rng);
    dense.bias.resize(out);
    for (float& b : dense.bias) b = 0.1f * normal(rng);
    net.layers.push_back(dense);
    if (h < hidden) {
      Layer act;
      act.kind = uniform(0, 3) == 0 ? LayerKind::kLeakyRelu : LayerKind::kRelu;
      act.alpha = 0.1f;
      act.name = "act" + std::to_string(h);
      net.layers.push_back(act);
    }
    width = out;
  }
  ValidateNetwork(net, "mlp");
  QuantConfig config;
  config.defaults.weight_bits = uniform(2, 8);
  config.defaults.granularity = uniform(0, 1) ? Granularity::kPerChannel : Granularity::kPerTensor;
  config.activation_bits = uniform(3, 8);
  c.inputs.resize(net.input_shape.Size(), samples);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t i = 0; i < c.inputs.size(); ++i) c.inputs.data()[i] = u(rng);
  c.quantized = QuantizeNetwork(net, config, c.inputs, "mlp");
  return c;
}

struct RandomRankCase {
  testing::RandomCase random;
  Dataset data;
  SampleSplit split;
};

RandomRankCase MakeRandomRankCase(uint64_t seed, bool conv) {
  std::mt19937_64 rng(seed);
  RandomRankCase c;
  c.random = conv ? testing::MakeRandomCase(rng, 64, true) : RandomMlp(rng, 64);
  testing::PerturbWeights(c.random.quantized, rng);
  c.data = ToDataset(c.random.inputs);
  c.split = SplitSamples(c.random.network, c.random.quantized, c.data, RepairTarget::kFloat);
  return c;
}

TEST(RankingTest, SameInputsGiveTheSameRanking) {
  for (bool conv : {false, true}) {
    for (uint64_t seed = 1; seed <= 6; ++seed) {
      RandomRankCase c = MakeRandomRankCase(seed, conv);
      for (const std::string& name : RankMethodNames()) {
        SCOPED_TRACE(name + (conv ? " conv" : " dense") + " seed " + std::to_string(seed));
        RankOptions options;
        options.method = ParseRankMethod(name);
        auto first = RankNeurons(c.random.network, c.random.quantized, c.data, c.split, options);
        auto second = RankNeurons(c.random.network, c.random.quantized, c.data, c.split, options);
        ExpectSameRanking(first, second);
        EXPECT_TRUE(SortedByScoreThenPosition(first));
        for (const NeuronScore& n : first) EXPECT_TRUE(std::isfinite(n.score));
      }
    }
  }
}

TEST(RankingTest, RandomRankingIsASeededPermutationOfAllNeurons) {
  RandomRankCase c = MakeRandomRankCase(3, true);
  std::set<std::pair<int, int>> all;
  for (int k = 0; k < static_cast<int>(c.random.quantized.layers.size()); ++k) {
    const QuantLayer& l = c.random.quantized.layers[k];
    if (!l.IsLinear()) continue;
    for (int u = 0; u < l.Units(); ++u) all.insert({k, u});
  }
  RankOptions options;
  options.method = RankMethod::kRandom;
  std::vector<std::vector<std::pair<int, int>>> orders;
  for (uint64_t seed : {1, 1, 2, 3, 4}) {
    options.seed = seed;
    auto r = RankNeurons(c.random.network, c.random.quantized, c.data, c.split, options);
    std::vector<std::pair<int, int>> order;
    for (const NeuronScore& n : r) order.push_back({n.layer, n.unit});
    EXPECT_EQ((std::set<std::pair<int, int>>(order.begin(), order.end())), all);
    EXPECT_EQ(order.size(), all.size());
    orders.push_back(order);
  }
  EXPECT_EQ(orders[0], orders[1]);
  bool any_differs = false;  // four seeds all giving the same order would be a broken shuffle
  for (size_t i = 2; i < orders.size(); ++i) any_differs |= orders[i] != orders[0];
  EXPECT_TRUE(any_differs);
}

TEST(RankingTest, FormulasMatchHandComputedValues) {
  SpectrumCounts c{3, 1, 1, 5};  // ef, ep, nf, np
  EXPECT_NEAR(SpectrumScore(RankMethod::kTarantula, c), 0.75 / (0.75 + 1.0 / 6), 1e-12);
  EXPECT_NEAR(SpectrumScore(RankMethod::kOchiai, c), 3.0 / std::sqrt(4.0 * 4.0), 1e-12);
  EXPECT_NEAR(SpectrumScore(RankMethod::kDStar2, c), 9.0 / 2.0, 1e-12);
  EXPECT_NEAR(SpectrumScore(RankMethod::kDStar3, c), 27.0 / 2.0, 1e-12);
  EXPECT_NEAR(SpectrumScore(RankMethod::kJaccard, c), 3.0 / 5.0, 1e-12);
  EXPECT_NEAR(SpectrumScore(RankMethod::kEuclid, c), std::sqrt(8.0), 1e-12);
  EXPECT_NEAR(SpectrumScore(RankMethod::kAmple, c), 0.75 - 1.0 / 6, 1e-12);
  EXPECT_NEAR(SpectrumScore(RankMethod::kWong3, c), 3.0 - 1.0, 1e-12);
  // Wong3's three pieces of h(ep).
  EXPECT_NEAR(SpectrumScore(RankMethod::kWong3, {10, 6, 0, 0}), 10.0 - 2.4, 1e-12);
  EXPECT_NEAR(SpectrumScore(RankMethod::kWong3, {10, 20, 0, 0}), 10.0 - 2.81, 1e-12);
  // The DStar ideal (flagged on all failing, no passing) beats every other spectrum.
  EXPECT_DOUBLE_EQ(SpectrumScore(RankMethod::kDStar2, {4, 0, 0, 9}), 32.0);
  EXPECT_GT(SpectrumScore(RankMethod::kDStar2, {4, 0, 0, 9}),
            SpectrumScore(RankMethod::kDStar2, {4, 1, 0, 8}));
  // No failing samples: no evidence, not NaN.
  for (RankMethod m :
       {RankMethod::kTarantula, RankMethod::kOchiai, RankMethod::kJaccard, RankMethod::kAmple}) {
    EXPECT_EQ(SpectrumScore(m, {0, 0, 0, 7}), 0.0) << RankMethodName(m);
  }
  EXPECT_THROW(SpectrumScore(RankMethod::kGradient, c), Error);
}

TEST(RankingTest, MethodNamesRoundTrip) {
  for (const std::string& name : RankMethodNames()) {
    EXPECT_EQ(RankMethodName(ParseRankMethod(name)), name);
  }
  try {
    ParseRankMethod("dstar");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_NE(std::string(e.what()).find("dstar2"), std::string::npos) << e.what();
  }
}

TEST(RankingTest, LayerFilterKeepsOnlyTheNamedLayers) {
  BrokenCase c = MakeBrokenCase();
  RankOptions options;
  options.method = RankMethod::kQuantError;
  options.layers = {"logits"};
  auto r = RankNeurons(c.network, c.quantized, c.data, c.split, options);
  ASSERT_EQ(r.size(), 2u);
  for (const NeuronScore& n : r) {
    EXPECT_EQ(n.layer, 1);
    EXPECT_EQ(n.layer_name, "logits");
  }
  options.method = RankMethod::kGradient;  // the backward pass stops at the selected layer
  options.layers = {"logits"};
  EXPECT_EQ(RankNeurons(c.network, c.quantized, c.data, c.split, options).size(), 2u);
  options.layers = {"relu"};
  try {
    RankNeurons(c.network, c.quantized, c.data, c.split, options);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_NE(std::string(e.what()).find("hidden, logits"), std::string::npos) << e.what();
  }
}

TEST(RankingTest, ScoresOnlyTheFailingSamplesForGradientAndQuantError) {
  BrokenCase c = MakeBrokenCase();
  SampleSplit no_failures = c.split;
  no_failures.passing.insert(no_failures.passing.end(), no_failures.failing.begin(),
                             no_failures.failing.end());
  std::sort(no_failures.passing.begin(), no_failures.passing.end());
  no_failures.failing.clear();
  for (RankMethod m : {RankMethod::kGradient, RankMethod::kQuantError, RankMethod::kOchiai}) {
    RankOptions options;
    options.method = m;
    for (const NeuronScore& n : RankNeurons(c.network, c.quantized, c.data, no_failures, options)) {
      EXPECT_EQ(n.score, 0.0) << RankMethodName(m);
    }
  }
}

TEST(RankingTest, WeightsOnlyNetworksAreRanked) {
  BrokenCase c = MakeBrokenCase();
  QuantConfig config;
  config.defaults.weight_bits = 8;
  config.activation_bits = 0;
  FloatBatch x = InputBatch(c.data);
  QuantizedNetwork q = QuantizeNetwork(c.network, config, x, "tiny");
  q.layers[kBrokenLayer].weights_q[kBrokenUnit * 4] = static_cast<int32_t>(q.layers[0].WeightMax());
  SampleSplit split = SplitSamples(c.network, q, c.data, RepairTarget::kFloat);
  ASSERT_GT(split.failing.size(), 50u);
  for (RankMethod m : {RankMethod::kGradient, RankMethod::kQuantError, RankMethod::kOchiai}) {
    RankOptions options;
    options.method = m;
    auto r = RankNeurons(c.network, q, c.data, split, options);
    ASSERT_EQ(r.size(), 8u);
    EXPECT_EQ(r[0].layer, kBrokenLayer) << RankMethodName(m);
    EXPECT_EQ(r[0].unit, kBrokenUnit) << RankMethodName(m);
  }
}

// The backward pass, run on a float network's own trace (so the masks are exact), is the
// gradient of the margin: compare with central differences through the remaining layers.
TEST(RankingTest, MarginGradientMatchesFiniteDifferences) {
  for (bool conv : {false, true}) {
    for (uint64_t seed = 11; seed <= 16; ++seed) {
      SCOPED_TRACE(std::string(conv ? "conv" : "dense") + " seed " + std::to_string(seed));
      std::mt19937_64 rng(seed);
      testing::RandomCase rc = conv ? testing::MakeRandomCase(rng, 3, true) : RandomMlp(rng, 3);
      const Network& net = rc.network;
      QuantConfig config;
      config.activation_bits = 0;  // weights-only: the layers mirror the float ones
      QuantizedNetwork q = QuantizeNetwork(net, config, rc.inputs, "random");
      ASSERT_EQ(q.layers.size(), net.layers.size());
      std::vector<FloatBatch> trace;
      FloatBatch logits = ForwardFloat(net, rc.inputs, &trace);
      if (logits.rows() < 2) continue;
      MarginBackward backward;
      backward.network = &q;
      backward.outputs = &trace;
      for (const Layer& l : net.layers)
        backward.float_weights.push_back(l.IsLinear() ? &l.weights : nullptr);
      const int64_t n = rc.inputs.cols();
      std::vector<int> target(n, 0), runner_up(n, 1);
      auto margin = [&](int k, const FloatBatch& out_k, int64_t s) {
        FloatBatch y = out_k.col(s);
        for (size_t j = k + 1; j < net.layers.size(); ++j) y = ForwardFloatLayer(net.layers[j], y);
        return static_cast<double>(y(0, 0)) - y(1, 0);
      };
      int checked = 0;
      BackwardMargin(backward, target, runner_up, 0, [&](int k, const FloatBatch& g) {
        ASSERT_EQ(g.rows(), trace[k].rows());
        for (int64_t s = 0; s < n; ++s) {
          for (int64_t i = 0; i < g.rows(); i += std::max<int64_t>(1, g.rows() / 7)) {
            // Exactly equal values (ReLU zeros, border positions that see only padding) tie in
            // max pools, where the margin has no derivative: skip them.
            const float v = trace[k](i, s);
            if ((trace[k].col(s).array() == v).count() > 1) continue;
            const float eps = 1e-4f;  // below the distance of every ReLU kink, for these seeds
            FloatBatch plus = trace[k], minus = trace[k];
            plus(i, s) += eps;
            minus(i, s) -= eps;
            double numeric = (margin(k, plus, s) - margin(k, minus, s)) / (2.0 * eps);
            EXPECT_NEAR(g(i, s), numeric, 1e-2 + 1e-2 * std::abs(numeric))
                << "layer " << k << " unit " << i << " sample " << s;
            ++checked;
          }
        }
      });
      EXPECT_GT(checked, 0);
    }
  }
}

}  // namespace
}  // namespace qrepair
