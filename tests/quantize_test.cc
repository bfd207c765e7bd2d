// Round-to-nearest quantization keeps the integer codes inside int32 where the float values are
// representable: the logits' common scale and the bias codes (measured failures before: a
// per-channel logits layer with an all-zero row agreed with float on 36.5 % of the inputs, and
// Convnet_maxpool at 16-bit weights and activations on 97.65 % per tensor and 82.35 % per channel).
#include "qrepair/quant/quantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "qrepair/model/network.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quant_config.h"

namespace qrepair {
namespace {

Layer Dense(const std::string& name, int in, int out, std::mt19937_64& rng, double spread) {
  std::normal_distribution<float> g(0.0f, static_cast<float>(spread));
  Layer l;
  l.kind = LayerKind::kDense;
  l.name = name;
  for (int i = 0; i < in * out; ++i) l.weights.push_back(g(rng));
  for (int u = 0; u < out; ++u) l.bias.push_back(g(rng));
  return l;
}

// input -> dense -> ReLU -> dense (the logits), with `inputs` uniform inputs in [0, 1).
Network TwoLayerNetwork(std::mt19937_64& rng, int inputs, int hidden, int classes) {
  Network net;
  net.name = "two_layer";
  net.input_shape = Shape{inputs, 1, 1};
  net.layers.push_back(Dense("fc1", inputs, hidden, rng, 0.5));
  Layer relu;
  relu.kind = LayerKind::kRelu;
  relu.name = "relu1";
  net.layers.push_back(relu);
  net.layers.push_back(Dense("fc2", hidden, classes, rng, 0.5));
  ValidateNetwork(net, "test");
  return net;
}

FloatBatch UniformInputs(std::mt19937_64& rng, int features, int samples) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  FloatBatch x(features, samples);
  for (int64_t s = 0; s < samples; ++s) {
    for (int i = 0; i < features; ++i) x(i, s) = u(rng);
  }
  return x;
}

QuantConfig Config(int weight_bits, const std::string& granularity, int activation_bits) {
  return ParseQuantConfig({{"weights", {{"bits", weight_bits}, {"granularity", granularity}}},
                           {"activations", {{"bits", activation_bits}}}},
                          "test");
}

// Top-1 agreement of the integer network with float on `x`; fails the test when a logit or a
// bias code sits at the int32 limits (a saturated value, not a represented one).
double Agreement(const Network& net, const QuantizedNetwork& q, const FloatBatch& x) {
  for (const QuantLayer& l : q.layers) {
    for (int64_t b : l.bias_q) {
      EXPECT_LT(b, INT32_MAX) << l.name;
      EXPECT_GT(b, INT32_MIN) << l.name;
    }
  }
  const CodeBatch logits = ForwardInteger(q, QuantizeInput(q, x));
  EXPECT_LT(logits.maxCoeff(), INT32_MAX);
  EXPECT_GT(logits.minCoeff(), INT32_MIN);
  const std::vector<int> f = ArgmaxColumns(ForwardFloat(net, x));
  const std::vector<int> i = ArgmaxColumns(logits);
  int same = 0;
  for (size_t s = 0; s < f.size(); ++s) same += f[s] == i[s];
  return static_cast<double>(same) / static_cast<double>(f.size());
}

TEST(QuantizeTest, PerChannelLogitsWithAnAllZeroRowKeepTheirOrder) {
  std::mt19937_64 rng(31);
  for (int trial = 0; trial < 10; ++trial) {
    Network net = TwoLayerNetwork(rng, 16, 12, 5);
    Layer& fc2 = net.layers[2];
    for (int j = 0; j < 12; ++j) fc2.weights[2 * 12 + j] = 0.0f;  // a pruned class
    fc2.bias[2] = 0.3f;
    const FloatBatch calibration = UniformInputs(rng, 16, 400);
    const FloatBatch x = UniformInputs(rng, 16, 400);
    const QuantizedNetwork q =
        QuantizeNetwork(net, Config(8, "per-channel", 8), calibration, "test");
    SCOPED_TRACE("trial " + std::to_string(trial));
    EXPECT_GE(Agreement(net, q, x), 0.95);
  }
}

TEST(QuantizeTest, SixteenBitQuantizationAgreesWithFloatWithoutSaturating) {
  std::mt19937_64 rng(32);
  for (const std::string granularity : {"per-tensor", "per-channel"}) {
    for (int trial = 0; trial < 10; ++trial) {
      Network net = TwoLayerNetwork(rng, 32, 24, 10);
      // Large logits, and units whose bias dwarfs their weights (as in trained conv layers).
      for (float& w : net.layers[2].weights) w *= 20.0f;
      for (int u = 0; u < 24; u += 6) {
        for (int j = 0; j < 32; ++j) net.layers[0].weights[u * 32 + j] *= 1e-3f;
        net.layers[0].bias[u] = 2.0f;
      }
      const FloatBatch calibration = UniformInputs(rng, 32, 400);
      const FloatBatch x = UniformInputs(rng, 32, 400);
      const QuantizedNetwork q =
          QuantizeNetwork(net, Config(16, granularity, 16), calibration, "test");
      SCOPED_TRACE(granularity + " trial " + std::to_string(trial));
      EXPECT_GE(Agreement(net, q, x), 0.99);
    }
  }
}

// Where int32 is no constraint (8 bits), the logits keep the exact accumulator scale.
TEST(QuantizeTest, EightBitLogitsStayAtTheSmallestWeightScale) {
  std::mt19937_64 rng(33);
  Network net = TwoLayerNetwork(rng, 16, 12, 5);
  const QuantizedNetwork q =
      QuantizeNetwork(net, Config(8, "per-channel", 8), UniformInputs(rng, 16, 200), "test");
  const QuantLayer& logits = q.layers[q.LogitLayer()];
  double s_min = logits.weight_scales[0];
  for (double s : logits.weight_scales) s_min = std::min(s_min, s);
  EXPECT_DOUBLE_EQ(logits.output.scale, s_min * logits.input.scale);
}

}  // namespace
}  // namespace qrepair
