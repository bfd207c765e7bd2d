// The exact per-neuron problem against the reference pass: for random patches inside the
// bounds, "row is right by the problem" must equal "sample is right by the reference pass".
#include "qrepair/repair/problem_builder.h"

#include <gtest/gtest.h>

#include "qrepair/repair/repair_problem.h"
#include "random_networks.h"

namespace qrepair {
namespace {

NeuronPatch RandomPatch(const NeuronRepairProblem& p, std::mt19937_64& rng) {
  NeuronPatch patch{p.layer, p.unit, p.weight, p.bias};
  for (size_t j = 0; j < p.weight.size(); ++j) {
    if (rng() % 3 == 0)
      patch.weight[j] = std::uniform_int_distribution<int64_t>(p.weight_lo[j], p.weight_hi[j])(rng);
  }
  if (rng() % 2) patch.bias = std::uniform_int_distribution<int64_t>(p.bias_lo, p.bias_hi)(rng);
  return patch;
}

void Apply(QuantizedNetwork& q, const NeuronPatch& patch) {
  QuantLayer& l = q.layers[patch.layer];
  for (size_t j = 0; j < patch.weight.size(); ++j)
    l.weights_q[patch.unit * l.FanIn() + j] = static_cast<int32_t>(patch.weight[j]);
  l.bias_q[patch.unit] = patch.bias;
}

// Builds one random neuron's problem on `q` and checks it against the reference pass under ten
// random patches; counts the rows checked and those whose outcome a patch changed.
void CheckGoodIntervals(const QuantizedNetwork& q, const FloatBatch& inputs, std::mt19937_64& rng,
                        const std::string& what, int& checked_rows, int& changed_outcomes) {
  CodeBatch codes = QuantizeInput(q, inputs);
  NetworkTrace trace = TraceNetwork(q, codes);
  // Random targets make a mix of failing and passing samples.
  SampleSplit split;
  split.target.resize(inputs.cols());
  for (int& t : split.target) t = static_cast<int>(rng() % q.NumClasses());
  UpdateSplit(split, ArgmaxColumns(trace.layers.back()));
  std::vector<int> dense;
  for (size_t l = 0; l < q.layers.size(); ++l) {
    if (q.layers[l].kind == LayerKind::kDense) dense.push_back(static_cast<int>(l));
  }
  int layer = dense[rng() % dense.size()];
  int unit = static_cast<int>(rng() % q.layers[layer].Units());
  BuildOptions o;
  o.max_delta = 1 + static_cast<int64_t>(rng() % 3);
  o.margin = static_cast<int64_t>(rng() % 3);
  o.max_values_per_row = 1 << 20;  // no window: every reachable value enumerated
  NeuronRepairProblem p = BuildNeuronProblem(q, q, trace, split, layer, unit, o, {});
  for (int k = 0; k < 10; ++k) {
    NeuronPatch patch = RandomPatch(p, rng);
    QuantizedNetwork patched = q;
    Apply(patched, patch);
    CodeBatch logits = ForwardInteger(patched, codes);
    for (const SampleRow& row : p.rows) {
      int64_t acc = PatchedAccumulator(p, row, patch);
      bool by_problem = InGood(row, acc);
      bool by_reference =
          LogitsRight(logits, row.sample, split.target[row.sample], row.failing ? o.margin : 0);
      ASSERT_EQ(by_problem, by_reference)
          << what << " layer " << layer << " unit " << unit << " sample " << row.sample;
      ++checked_rows;
      changed_outcomes += by_problem != !row.failing;
    }
  }
}

TEST(ProblemBuilderTest, GoodIntervalsMatchTheReferencePassOnRandomNetworks) {
  std::mt19937_64 rng(31337);
  int checked_rows = 0, changed_outcomes = 0;
  for (int trial = 0; trial < 300; ++trial) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 40, trial % 4 == 0);
    CheckGoodIntervals(c.quantized, c.inputs, rng, "trial " + std::to_string(trial), checked_rows,
                       changed_outcomes);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(checked_rows, 1000);
  EXPECT_GT(changed_outcomes, 50);  // the patches really move samples across the boundary
}

// The good sets follow the network's rounding mode (they come from RequantizeUnit): the same
// check in every mode.
TEST(ProblemBuilderTest, GoodIntervalsFollowEveryRoundingMode) {
  std::mt19937_64 rng(4711);
  for (RoundingMode mode : testing::kAllRoundingModes) {
    int checked_rows = 0, changed_outcomes = 0;
    for (int trial = 0; trial < 150; ++trial) {
      testing::RandomCase c = testing::MakeRandomCase(rng, 40, trial % 4 == 0);
      QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& k) { k.rounding = mode; });
      CheckGoodIntervals(q, c.inputs, rng,
                         std::string(RoundingModeName(mode)) + " trial " + std::to_string(trial),
                         checked_rows, changed_outcomes);
      if (HasFatalFailure()) return;
    }
    EXPECT_GT(checked_rows, 500) << RoundingModeName(mode);
    EXPECT_GT(changed_outcomes, 25) << RoundingModeName(mode);
  }
}

// With zero points the rows carry centered codes (x_q - zp); the good sets must still be exact.
TEST(ProblemBuilderTest, GoodIntervalsWithZeroPoints) {
  std::mt19937_64 rng(8080);
  for (RoundingMode mode : testing::kAllRoundingModes) {
    int checked_rows = 0, changed_outcomes = 0;
    for (int trial = 0; trial < 120; ++trial) {
      testing::RandomCase c = testing::MakeRandomCase(rng, 40, trial % 4 == 0);
      QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& k) {
        k.rounding = mode;
        k.activation_symmetric = false;
        k.activation_signed = trial % 2 == 1;  // TFLite's signed int8 codes, or uint8
      });
      CheckGoodIntervals(q, c.inputs, rng,
                         std::string(RoundingModeName(mode)) + " trial " + std::to_string(trial),
                         checked_rows, changed_outcomes);
      if (HasFatalFailure()) return;
    }
    EXPECT_GT(checked_rows, 400) << RoundingModeName(mode);
    EXPECT_GT(changed_outcomes, 20) << RoundingModeName(mode);
  }
}

// Requantized, saturating logits (ties at the code limits go to the lowest index) with every
// rounding mode and zero points: the good sets stay exact.
TEST(ProblemBuilderTest, GoodIntervalsWithRequantizedLogits) {
  std::mt19937_64 rng(1717);
  int checked_rows = 0, changed_outcomes = 0;
  for (int trial = 0; trial < 400; ++trial) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 40, trial % 4 == 0);
    const int k = testing::kRequantizedLogitsFrom + trial % 12;
    QuantizedNetwork q =
        testing::QuantizedWith(c, [&](QuantConfig& config) { testing::SetSemantics(config, k); });
    CheckGoodIntervals(q, c.inputs, rng,
                       "semantics " + std::to_string(k) + " trial " + std::to_string(trial),
                       checked_rows, changed_outcomes);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(checked_rows, 1000);
  EXPECT_GT(changed_outcomes, 50);
}

TEST(ProblemBuilderTest, ReachableRangeBoundsEveryPatch) {
  std::mt19937_64 rng(4);
  testing::RandomCase c = testing::MakeRandomCase(rng, 30, false);
  NetworkTrace trace = TraceNetwork(c.quantized, QuantizeInput(c.quantized, c.inputs));
  SampleSplit split;
  split.target.assign(c.inputs.cols(), 0);
  UpdateSplit(split, ArgmaxColumns(trace.layers.back()));
  int layer = static_cast<int>(c.quantized.layers.size()) - 1;
  NeuronRepairProblem p =
      BuildNeuronProblem(c.quantized, c.quantized, trace, split, layer, 0, BuildOptions{}, {});
  for (int k = 0; k < 200; ++k) {
    NeuronPatch patch = RandomPatch(p, rng);
    for (const SampleRow& row : p.rows) {
      AccInterval r = ReachableRange(p, row);
      int64_t acc = PatchedAccumulator(p, row, patch);
      ASSERT_LE(r.lo, acc);
      ASSERT_GE(r.hi, acc);
    }
  }
}

}  // namespace
}  // namespace qrepair
