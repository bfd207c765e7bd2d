// The config's "decision": "argmin" (ACAS Xu: the advisory is the lowest output). qrepair negates
// the last linear layer in memory so that every stage keeps deciding by argmax; files keep the
// network as it was loaded.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "qrepair/error.h"
#include "qrepair/io/json_io.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quant_config.h"
#include "qrepair/quant/quantize.h"
#include "random_networks.h"

namespace qrepair {
namespace {

// Lowest output per column, the lowest index winning ties (argmin's rule).
std::vector<int> ArgminColumns(const FloatBatch& outputs) {
  std::vector<int> out(outputs.cols());
  for (Eigen::Index s = 0; s < outputs.cols(); ++s) {
    int best = 0;
    for (Eigen::Index k = 1; k < outputs.rows(); ++k) {
      if (outputs(k, s) < outputs(best, s)) best = static_cast<int>(k);
    }
    out[s] = best;
  }
  return out;
}

TEST(DecisionTest, ArgmaxOfTheOrientedNetworkIsArgminOfTheLoadedOne) {
  std::mt19937_64 rng(7);
  for (int n = 0; n < 10; ++n) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 200, n % 2 == 1);
    Network oriented = c.network;
    OrientForDecision(oriented, Decision::kArgmin, "random");
    EXPECT_TRUE(oriented.outputs_negated);
    const int last = c.network.LastLinearLayer();
    for (size_t i = 0; i < c.network.layers.size(); ++i) {
      const float sign = static_cast<int>(i) == last ? -1.0f : 1.0f;
      for (size_t j = 0; j < c.network.layers[i].weights.size(); ++j)
        ASSERT_EQ(oriented.layers[i].weights[j], sign * c.network.layers[i].weights[j]);
      for (size_t j = 0; j < c.network.layers[i].bias.size(); ++j)
        ASSERT_EQ(oriented.layers[i].bias[j], sign * c.network.layers[i].bias[j]);
    }
    EXPECT_EQ(ArgmaxColumns(ForwardFloat(oriented, c.inputs)),
              ArgminColumns(ForwardFloat(c.network, c.inputs)))
        << "case " << n;
    OrientForDecision(oriented, Decision::kArgmin, "random");  // already oriented: unchanged
    EXPECT_TRUE(oriented.outputs_negated);
    OrientForDecision(oriented, Decision::kArgmax, "random");  // restored exactly
    EXPECT_FALSE(oriented.outputs_negated);
    EXPECT_EQ(oriented.layers[last].weights, c.network.layers[last].weights);
    EXPECT_EQ(oriented.layers[last].bias, c.network.layers[last].bias);
  }
}

TEST(DecisionTest, RefusesANetworkWhoseOutputsPassANonlinearityAfterTheLastLinearLayer) {
  std::mt19937_64 rng(8);
  Network net = testing::MakeRandomCase(rng, 10, false).network;
  Layer relu;
  relu.kind = LayerKind::kRelu;
  relu.name = "final_relu";
  net.layers.push_back(relu);
  ValidateNetwork(net, "net.onnx");
  try {
    OrientForDecision(net, Decision::kArgmin, "net.onnx");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("net.onnx"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("final_relu"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(OrientForDecision(net, Decision::kArgmax, "net.onnx"));  // nothing to do
}

TEST(DecisionTest, ConfigReadsAndWritesTheDecision) {
  const nlohmann::json base = {{"weights", {{"bits", 4}}}};
  EXPECT_EQ(ParseQuantConfig(base, "q.json").decision, Decision::kArgmax);
  nlohmann::json j = base;
  j["decision"] = "argmin";
  const QuantConfig c = ParseQuantConfig(j, "q.json");
  EXPECT_EQ(c.decision, Decision::kArgmin);
  EXPECT_EQ(nlohmann::json(c)["decision"], "argmin");
  EXPECT_EQ(ParseQuantConfig(nlohmann::json(c), "again").decision, Decision::kArgmin);
  j["decision"] = "lowest";
  try {
    ParseQuantConfig(j, "q.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("$.decision"), std::string::npos) << e.what();
  }
}

// The file holds the float network as loaded; reading it back orients it again from the stored
// config, so float and integer top-1 are the same as before the round trip.
TEST(DecisionTest, ModelFilesKeepTheLoadedOrientationAndRestoreTheDecision) {
  std::mt19937_64 rng(9);
  for (int n = 0; n < 4; ++n) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 100, n % 2 == 1);
    ModelFile model;
    model.float_network = c.network;
    OrientForDecision(model.float_network, Decision::kArgmin, "random");
    QuantConfig config = c.quantized.config;
    config.decision = Decision::kArgmin;
    model.quantized = QuantizeNetwork(model.float_network, config, c.inputs, "random");
    model.has_quantized = true;
    const nlohmann::json j = ModelFileToJson(model);
    const int last = c.network.LastLinearLayer();
    EXPECT_EQ(j["network"]["layers"][last]["weights"].get<std::vector<float>>(),
              c.network.layers[last].weights);
    EXPECT_EQ(j["quantized"]["config"]["decision"], "argmin");
    EXPECT_TRUE(model.float_network.outputs_negated) << "writing changed the model in memory";

    const ModelFile back = ModelFileFromJson(j, "model.json");
    EXPECT_TRUE(back.float_network.outputs_negated);
    EXPECT_EQ(ArgmaxColumns(ForwardFloat(back.float_network, c.inputs)),
              ArgminColumns(ForwardFloat(c.network, c.inputs)));
    EXPECT_EQ(PredictQuantized(back.quantized, c.inputs),
              PredictQuantized(model.quantized, c.inputs));
  }
}

}  // namespace
}  // namespace qrepair
