// The integer semantics as facts of a quantized network: the config picks them, quantize writes
// them, the model file keeps them (old files without them are the default), the ONNX export
// writes only what QuantizeLinear computes.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "qrepair/error.h"
#include "qrepair/export/onnx_export.h"
#include "qrepair/io/json_io.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quant_config.h"
#include "random_networks.h"

namespace qrepair {
namespace {

using nlohmann::json;

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

TEST(SemanticsTest, ConfigPicksTheRoundingMode) {
  const json base = {{"weights", {{"bits", 8}}}};
  EXPECT_EQ(ParseQuantConfig(base, "q.json").rounding, RoundingMode::kHalfEven);
  for (RoundingMode mode : testing::kAllRoundingModes) {
    json j = base;
    j["rounding"] = RoundingModeName(mode);
    QuantConfig config = ParseQuantConfig(j, "q.json");
    EXPECT_EQ(config.rounding, mode);
    json back;
    to_json(back, config);
    EXPECT_EQ(ParseQuantConfig(back, "q.json").rounding, mode);
    // The default is not written, so the files of the default semantics stay as they were.
    EXPECT_EQ(back.contains("rounding"), mode != RoundingMode::kHalfEven);
  }
  json bad = base;
  bad["rounding"] = "half-odd";
  std::string message = ErrorOf([&] { ParseQuantConfig(bad, "q.json"); });
  EXPECT_NE(message.find("q.json"), std::string::npos) << message;
  EXPECT_NE(message.find("$.rounding"), std::string::npos) << message;
  EXPECT_NE(message.find("half-away"), std::string::npos) << message;
  bad["rounding"] = 1;
  ErrorOf([&] { ParseQuantConfig(bad, "q.json"); });
}

ModelFile QuantizedModel(const testing::RandomCase& c, const QuantizedNetwork& q) {
  ModelFile model;
  model.float_network = c.network;
  model.has_quantized = true;
  model.quantized = q;
  return model;
}

TEST(SemanticsTest, ModelFileKeepsTheRoundingMode) {
  std::mt19937_64 rng(5);
  for (int n = 0; n < 8; ++n) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 30, n % 2 == 1);
    for (RoundingMode mode : testing::kAllRoundingModes) {
      QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& k) { k.rounding = mode; });
      json file = ModelFileToJson(QuantizedModel(c, q));
      EXPECT_EQ(file["quantized"].contains("rounding"), mode != RoundingMode::kHalfEven);
      ModelFile back = ModelFileFromJson(file, "m.json");
      ASSERT_EQ(back.quantized.rounding, mode);
      for (const QuantLayer& l : back.quantized.layers) ASSERT_EQ(l.rounding, mode);
      const CodeBatch codes = QuantizeInput(q, c.inputs);
      EXPECT_EQ(QuantizeInput(back.quantized, c.inputs), codes);
      EXPECT_EQ(ForwardInteger(back.quantized, codes), ForwardInteger(q, codes));
      EXPECT_EQ(ModelFileToJson(back).dump(), file.dump());
    }
  }
}

// A file written before the modes existed has no "rounding": it is half-even. The fact, not the
// recipe, decides: a file whose config says tflite but whose network has no "rounding" key runs
// half-even, and a bad value is refused with its JSON path.
TEST(SemanticsTest, ModelFileWithoutRoundingIsHalfEven) {
  std::mt19937_64 rng(6);
  testing::RandomCase c = testing::MakeRandomCase(rng, 30, false);
  json file = ModelFileToJson(QuantizedModel(c, c.quantized));
  ASSERT_FALSE(file["quantized"].contains("rounding"));
  EXPECT_EQ(ModelFileFromJson(file, "m.json").quantized.rounding, RoundingMode::kHalfEven);
  file["quantized"]["rounding"] = "nearest";
  std::string message = ErrorOf([&] { ModelFileFromJson(file, "m.json"); });
  EXPECT_NE(message.find("$.quantized.rounding"), std::string::npos) << message;
}

TEST(SemanticsTest, OnnxExportRefusesRoundingItCannotExpress) {
  std::mt19937_64 rng(7);
  testing::RandomCase c = testing::MakeRandomCase(rng, 30, false);
  c.network.name = "mlp_tiny";
  c.quantized.name = "mlp_tiny";
  EXPECT_FALSE(ExportOnnxQdq(c.quantized, c.network).empty());
  for (RoundingMode mode :
       {RoundingMode::kHalfAway, RoundingMode::kHalfUp, RoundingMode::kTflite}) {
    QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& k) { k.rounding = mode; });
    q.name = "mlp_tiny";
    std::string message = ErrorOf([&] { ExportOnnxQdq(q, c.network); });
    EXPECT_NE(message.find("mlp_tiny"), std::string::npos) << message;
    EXPECT_NE(message.find(RoundingModeName(mode)), std::string::npos) << message;
    EXPECT_NE(message.find("half to even"), std::string::npos) << message;
  }
}

TEST(SemanticsTest, ConfigPicksAsymmetricActivations) {
  // The keys that existed stay valid and mean what they meant: symmetric codes.
  QuantConfig old_style =
      ParseQuantConfig({{"weights", {{"bits", 4}}}, {"activations", {{"bits", 8}}}}, "q.json");
  EXPECT_TRUE(old_style.activation_symmetric);
  EXPECT_EQ(old_style.activation_bits, 8);
  json old_back;
  to_json(old_back, old_style);
  EXPECT_FALSE(old_back["activations"].contains("symmetric"));
  QuantConfig asymmetric = ParseQuantConfig(
      {{"weights", {{"bits", 4}}}, {"activations", {{"bits", 8}, {"symmetric", false}}}}, "q.json");
  EXPECT_FALSE(asymmetric.activation_symmetric);
  json back;
  to_json(back, asymmetric);
  EXPECT_FALSE(ParseQuantConfig(back, "q.json").activation_symmetric);
  std::string message = ErrorOf([&] {
    ParseQuantConfig(
        {{"weights", {{"bits", 4}}}, {"activations", {{"bits", 8}, {"symmetric", "no"}}}},
        "q.json");
  });
  EXPECT_NE(message.find("$.activations.symmetric"), std::string::npos) << message;
}

// Calibration min/max -> scale and zero point: unsigned codes, real 0 exactly the zero point,
// the calibrated range covered (to half a quantum at the low end, where the zero point rounds),
// ReLU outputs at zero point 0, the int32 logits symmetric.
TEST(SemanticsTest, AsymmetricCodesRepresentZeroAndCoverTheRange) {
  std::mt19937_64 rng(11);
  int nonzero = 0;
  for (int n = 0; n < 200; ++n) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 30, n % 2 == 0);
    QuantizedNetwork q =
        testing::QuantizedWith(c, [](QuantConfig& k) { k.activation_symmetric = false; });
    std::vector<ActivationCode> codes = {q.input};
    for (const QuantLayer& l : q.layers) {
      if (l.IsLinear() && l.output.bits < 32) codes.push_back(l.output);
      if (l.IsLinear() && l.activation == QActivation::kRelu) EXPECT_EQ(l.output.zero_point, 0);
      if (l.output.bits == 32) EXPECT_EQ(l.output.zero_point, 0);
    }
    for (const ActivationCode& code : codes) {
      EXPECT_FALSE(code.is_signed);
      ASSERT_GE(code.zero_point, code.Min());
      ASSERT_LE(code.zero_point, code.Max());
      nonzero += code.zero_point != 0;
    }
    // The inputs: every calibration value is within half a quantum of the coded range.
    const double lo = c.inputs.minCoeff(), hi = c.inputs.maxCoeff();
    const double s = q.input.scale;
    EXPECT_LE(s * static_cast<double>(q.input.Min() - q.input.zero_point),
              std::min(lo, 0.0) + s / 2);
    EXPECT_GE(s * static_cast<double>(q.input.Max() - q.input.zero_point),
              std::max(hi, 0.0) - s / 2);
  }
  EXPECT_GT(nonzero, 100);
}

// TFLite's signed int8 zero points ("signed": true) are ONNX Runtime's uint8 codes shifted down
// by 2^(b-1), scale and real values unchanged: every layer's codes differ by exactly that shift
// and the int32 logits are identical, in every rounding mode.
TEST(SemanticsTest, SignedZeroPointsAreTheUnsignedCodesShifted) {
  std::mt19937_64 rng(13);
  int relu_layers = 0;
  for (int n = 0; n < 120; ++n) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 30, n % 2 == 0);
    const RoundingMode mode = testing::kAllRoundingModes[n % 4];
    const auto with = [&](bool is_signed) {
      return testing::QuantizedWith(c, [&](QuantConfig& k) {
        k.activation_symmetric = false;
        k.activation_signed = is_signed;
        k.rounding = mode;
      });
    };
    const QuantizedNetwork u = with(false), s = with(true);
    ASSERT_EQ(u.layers.size(), s.layers.size());
    EXPECT_TRUE(s.input.is_signed);
    EXPECT_EQ(s.input.zero_point, u.input.zero_point - (int64_t{1} << (u.input.bits - 1)));
    std::vector<CodeBatch> trace_u, trace_s;
    const CodeBatch logits_u = ForwardInteger(u, QuantizeInput(u, c.inputs), &trace_u);
    const CodeBatch logits_s = ForwardInteger(s, QuantizeInput(s, c.inputs), &trace_s);
    EXPECT_EQ(logits_u, logits_s) << "case " << n;
    for (size_t l = 0; l < u.layers.size(); ++l) {
      const ActivationCode& cu = u.layers[l].output;
      const ActivationCode& cs = s.layers[l].output;
      if (cu.bits == 32) continue;
      const int64_t shift = int64_t{1} << (cu.bits - 1);
      EXPECT_EQ(cs.scale, cu.scale);
      EXPECT_TRUE(cs.is_signed);
      EXPECT_EQ(cs.zero_point, cu.zero_point - shift);
      if (u.layers[l].activation == QActivation::kRelu) {
        EXPECT_EQ(cs.zero_point, cs.Min()) << "ReLU outputs start at real 0";
        ++relu_layers;
      }
      EXPECT_EQ(trace_s[l], (trace_u[l].array() - static_cast<int32_t>(shift)).matrix())
          << "case " << n << " layer " << l;
    }
  }
  EXPECT_GT(relu_layers, 50);
}

TEST(SemanticsTest, SignedZeroPointsNeedAsymmetricCodes) {
  const json asym = {{"weights", {{"bits", 8}}},
                     {"activations", {{"bits", 8}, {"symmetric", false}, {"signed", true}}}};
  const QuantConfig config = ParseQuantConfig(asym, "q.json");
  EXPECT_TRUE(config.activation_signed);
  json back;
  to_json(back, config);
  EXPECT_TRUE(ParseQuantConfig(back, "q.json").activation_signed);
  json bad = asym;
  bad["activations"]["symmetric"] = true;
  const std::string e = ErrorOf([&] { ParseQuantConfig(bad, "q.json"); });
  EXPECT_NE(e.find("$.activations.signed"), std::string::npos) << e;
}

TEST(SemanticsTest, ModelFileKeepsZeroPoints) {
  std::mt19937_64 rng(12);
  for (int n = 0; n < 8; ++n) {
    testing::RandomCase c = testing::MakeRandomCase(rng, 30, n % 2 == 1);
    QuantizedNetwork q =
        testing::QuantizedWith(c, [](QuantConfig& k) { k.activation_symmetric = false; });
    json file = ModelFileToJson(QuantizedModel(c, q));
    ModelFile back = ModelFileFromJson(file, "m.json");
    EXPECT_EQ(back.quantized.input.zero_point, q.input.zero_point);
    for (size_t i = 0; i < q.layers.size(); ++i) {
      EXPECT_EQ(back.quantized.layers[i].input.zero_point, q.layers[i].input.zero_point);
      EXPECT_EQ(back.quantized.layers[i].output.zero_point, q.layers[i].output.zero_point);
    }
    const CodeBatch codes = QuantizeInput(q, c.inputs);
    EXPECT_EQ(QuantizeInput(back.quantized, c.inputs), codes);
    EXPECT_EQ(ForwardInteger(back.quantized, codes), ForwardInteger(q, codes));
    EXPECT_EQ(ModelFileToJson(back).dump(), file.dump());
    // A zero point outside the code's range is refused with its path.
    if (q.input.zero_point != 0) {
      json bad = file;
      bad["quantized"]["input"]["zero_point"] = q.input.Max() + 1;
      std::string message = ErrorOf([&] { ModelFileFromJson(bad, "m.json"); });
      EXPECT_NE(message.find("$.quantized.input.zero_point"), std::string::npos) << message;
    }
  }
}

TEST(SemanticsTest, ConfigPicksRequantizedLogits) {
  const json base = {{"weights", {{"bits", 8}}}};
  EXPECT_EQ(ParseQuantConfig(base, "q.json").logit_bits, 32);
  json j = base;
  j["logits"] = "int32";
  EXPECT_EQ(ParseQuantConfig(j, "q.json").logit_bits, 32);
  j["logits"] = {{"bits", 6}};
  QuantConfig config = ParseQuantConfig(j, "q.json");
  EXPECT_EQ(config.logit_bits, 6);
  json back;
  to_json(back, config);
  EXPECT_EQ(ParseQuantConfig(back, "q.json").logit_bits, 6);
  json plain;
  to_json(plain, ParseQuantConfig(base, "q.json"));
  EXPECT_FALSE(plain.contains("logits"));
  for (const json& bad :
       {json{{"bits", 1}}, json{{"bits", 17}}, json("int8"), json{{"width", 8}}}) {
    j["logits"] = bad;
    std::string message = ErrorOf([&] { ParseQuantConfig(j, "q.json"); });
    EXPECT_NE(message.find("$.logits"), std::string::npos) << message;
  }
}

// The verification literature's output layer: logits requantized to signed Q-bit codes and
// saturated; saturated ties decide by the lowest index.
TEST(SemanticsTest, RequantizedLogitsSaturateAndTiesGoToTheLowestIndex) {
  std::mt19937_64 rng(13);
  testing::RandomCase c = testing::MakeRandomCase(rng, 200, false);
  QuantizedNetwork q = testing::QuantizedWith(c, [](QuantConfig& k) { k.logit_bits = 4; });
  QuantLayer& logits = q.layers[q.LogitLayer()];
  ASSERT_EQ(logits.output.bits, 4);
  ASSERT_TRUE(logits.output.is_signed);
  // Every accumulator beyond the range lands on the limits.
  EXPECT_EQ(RequantizeUnit(logits, 0, int64_t{1} << 40), 7);
  EXPECT_EQ(RequantizeUnit(logits, 0, -(int64_t{1} << 40)), -8);
  // Make units 0 and 1 saturate high together: the decision is unit 0.
  const int64_t fan_in = logits.FanIn();
  for (int u : {0, 1}) {
    std::fill(logits.weights_q.begin() + u * fan_in, logits.weights_q.begin() + (u + 1) * fan_in,
              0);
    logits.bias_q[u] = 1 << 30;
  }
  const CodeBatch y = ForwardInteger(q, QuantizeInput(q, c.inputs));
  for (Eigen::Index s = 0; s < y.cols(); ++s) {
    ASSERT_EQ(y(0, s), 7);
    ASSERT_EQ(y(1, s), 7);
  }
  for (int top : PredictQuantized(q, c.inputs)) EXPECT_EQ(top, 0);
  // The model file keeps the logits' code.
  json file = ModelFileToJson(QuantizedModel(c, q));
  ModelFile back = ModelFileFromJson(file, "m.json");
  EXPECT_EQ(back.quantized.layers[back.quantized.LogitLayer()].output.bits, 4);
  EXPECT_EQ(ForwardInteger(back.quantized, QuantizeInput(q, c.inputs)), y);
}

}  // namespace
}  // namespace qrepair
