// The batched integer pass against the scalar oracle on thousands of random networks, and the
// float pass against hand-computed values.
#include "qrepair/quant/forward.h"

#include <gtest/gtest.h>

#include "random_networks.h"
#include "scalar_reference.h"

namespace qrepair {
namespace {

void ExpectMatchesOracle(const QuantizedNetwork& q, const FloatBatch& inputs) {
  CodeBatch codes = QuantizeInput(q, inputs);
  CodeBatch logits = ForwardInteger(q, codes);
  for (int64_t s = 0; s < inputs.cols(); ++s) {
    std::vector<int64_t> x(codes.rows());
    for (int64_t i = 0; i < codes.rows(); ++i) x[i] = codes(i, s);
    std::vector<int64_t> expected = testing::ScalarForward(q, x);
    ASSERT_EQ(static_cast<int64_t>(expected.size()), logits.rows());
    for (size_t k = 0; k < expected.size(); ++k)
      ASSERT_EQ(logits(k, s), expected[k]) << "sample " << s << " logit " << k;
  }
}

TEST(ForwardTest, IntegerPassMatchesScalarOracleOnRandomDenseNetworks) {
  std::mt19937_64 rng(2024);
  for (int trial = 0; trial < 1500; ++trial) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 8, false);
    if (trial % 2) testing::PerturbWeights(c.quantized, rng);
    SCOPED_TRACE("trial " + std::to_string(trial));
    ExpectMatchesOracle(c.quantized, c.inputs);
  }
}

TEST(ForwardTest, IntegerPassMatchesScalarOracleOnRandomConvNetworks) {
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 800; ++trial) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 4, true);
    if (trial % 2) testing::PerturbWeights(c.quantized, rng);
    SCOPED_TRACE("trial " + std::to_string(trial));
    ExpectMatchesOracle(c.quantized, c.inputs);
  }
}

// Every rounding mode through the config, dense and conv (average pooling too), with and
// without perturbed weights; the modes must also give different logits somewhere, or the pass
// would be ignoring them.
TEST(ForwardTest, EveryRoundingModeMatchesScalarOracle) {
  std::mt19937_64 rng(4242);
  int differs[4] = {0, 0, 0, 0};
  for (int trial = 0; trial < 800; ++trial) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 8, trial % 3 == 0);
    const uint64_t perturb_seed = rng();
    CodeBatch half_even;
    for (RoundingMode mode : testing::kAllRoundingModes) {
      QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& k) { k.rounding = mode; });
      ASSERT_EQ(q.rounding, mode);
      for (const QuantLayer& l : q.layers) ASSERT_EQ(l.rounding, mode);
      std::mt19937_64 perturb(perturb_seed);
      if (trial % 2) testing::PerturbWeights(q, perturb);
      SCOPED_TRACE("trial " + std::to_string(trial) + " " + RoundingModeName(mode));
      ExpectMatchesOracle(q, c.inputs);
      CodeBatch logits = ForwardInteger(q, QuantizeInput(q, c.inputs));
      if (mode == RoundingMode::kHalfEven) half_even = logits;
      differs[static_cast<int>(mode)] += logits != half_even;
    }
  }
  EXPECT_EQ(differs[0], 0);
  for (int mode = 1; mode < 4; ++mode) EXPECT_GT(differs[mode], 20) << "mode " << mode;
}

// Asymmetric activations (zero points on the input and on signed outputs) in every rounding
// mode: the pass against the oracle, which centers the codes itself.
TEST(ForwardTest, ZeroPointsMatchScalarOracleInEveryRoundingMode) {
  std::mt19937_64 rng(777);
  int with_zero_points = 0;
  for (int trial = 0; trial < 600; ++trial) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 8, trial % 2 == 0);
    const uint64_t perturb_seed = rng();
    for (RoundingMode mode : testing::kAllRoundingModes) {
      QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& k) {
        k.rounding = mode;
        k.activation_symmetric = false;
        k.activation_signed = trial % 4 >= 2;  // TFLite's signed int8 codes, or uint8
      });
      bool any = q.input.zero_point != 0;
      for (const QuantLayer& l : q.layers) {
        ASSERT_GE(l.output.zero_point, l.output.Min());
        ASSERT_LE(l.output.zero_point, l.output.Max());
        any = any || l.output.zero_point != 0;
      }
      with_zero_points += any;
      std::mt19937_64 perturb(perturb_seed);
      if (trial % 3 == 1) testing::PerturbWeights(q, perturb);
      SCOPED_TRACE("trial " + std::to_string(trial) + " " + RoundingModeName(mode));
      ExpectMatchesOracle(q, c.inputs);
    }
  }
  EXPECT_GT(with_zero_points, 800);
}

// Every combination of rounding mode, zero points and requantized logits (4..8-bit, saturating).
TEST(ForwardTest, EverySemanticsMatchesScalarOracle) {
  std::mt19937_64 rng(1616);
  int saturated = 0;
  for (int trial = 0; trial < 400; ++trial) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 8, trial % 2 == 0);
    for (int k = 0; k < testing::kSemanticsCount; ++k) {
      QuantizedNetwork q =
          testing::QuantizedWith(c, [&](QuantConfig& config) { testing::SetSemantics(config, k); });
      const QuantLayer& logits = q.layers[q.LogitLayer()];
      const bool requantized = k >= testing::kRequantizedLogitsFrom;
      ASSERT_EQ(logits.output.bits, requantized ? 4 + k % 5 : 32);
      SCOPED_TRACE("trial " + std::to_string(trial) + " semantics " + std::to_string(k));
      ExpectMatchesOracle(q, c.inputs);
      if (requantized) {
        const CodeBatch y = ForwardInteger(q, QuantizeInput(q, c.inputs));
        saturated +=
            (y.array() == logits.output.Max()).any() || (y.array() == logits.output.Min()).any();
      }
    }
  }
  EXPECT_GT(saturated, 50);  // the saturating logits are exercised
}

TEST(ForwardTest, HighBitWidthsUseTheExactDoublePath) {
  std::mt19937_64 rng(5);
  testing::RandomCase c = testing::MakeRandomCase(rng, 16, false);
  // Make accumulators exceed 2^24 so the float fast path would be inexact.
  for (QuantLayer& l : c.quantized.layers) {
    if (!l.IsLinear()) continue;
    l.weight_bits = 16;
    for (int32_t& w : l.weights_q) w = 30000 - (w * 1237) % 60000;
  }
  c.quantized.input.bits = 16;
  for (QuantLayer& l : c.quantized.layers) l.input.bits = 16;
  ExpectMatchesOracle(c.quantized, c.inputs);
}

TEST(ForwardTest, FloatDenseAndConvMatchHandComputedValues) {
  Network net;
  net.input_shape = Shape{1, 3, 3};
  Layer conv;
  conv.kind = LayerKind::kConv2d;
  conv.name = "conv";
  conv.window = Window{2, 2, 1, 1, 0, 0, 0, 0};
  conv.weights = {1, 0, 0, -1};
  conv.bias = {0.5f};
  Layer flat;
  flat.kind = LayerKind::kFlatten;
  flat.name = "flat";
  Layer dense;
  dense.kind = LayerKind::kDense;
  dense.name = "dense";
  dense.weights = {1, 1, 1, 1, 0, 0, 0, 2};
  dense.bias = {0, 1};
  net.layers = {conv, flat, dense};
  ValidateNetwork(net, "hand");
  FloatBatch x(9, 1);
  x << 1, 2, 3, 4, 5, 6, 7, 8, 9;  // conv: x[i][j] - x[i+1][j+1] + 0.5 = -3.5 everywhere
  FloatBatch y = ForwardFloat(net, x);
  EXPECT_FLOAT_EQ(y(0, 0), -14.0f);
  EXPECT_FLOAT_EQ(y(1, 0), -6.0f);
}

TEST(ForwardTest, ArgmaxBreaksTiesTowardsTheLowestIndex) {
  CodeBatch logits(3, 2);
  logits << 5, 1, 7, 9, 7, 9;
  EXPECT_EQ(ArgmaxColumns(logits), (std::vector<int>{1, 1}));
}

}  // namespace
}  // namespace qrepair
