// Regression tests for loader bugs found by the malformed-input corpus and the fuzzers (issue 7),
// one per bug, at the level of the function that had it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>

#include "process_runner.h"
#include "qrepair/error.h"
#include "qrepair/io/json_io.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/quant/integer_ops.h"
#include "qrepair/quant/quant_config.h"
#include "qrepair/quant/quantize.h"
#include "random_networks.h"

namespace qrepair {
namespace {

using ::testing::HasSubstr;

class ReliabilityRegressionTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  // The message of the kBadInput error that `load` throws, or a failure.
  template <typename Load>
  std::string BadInputMessage(Load load) {
    try {
      load();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kBadInput) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "no error thrown";
    return "";
  }

  testing::TempDir dir_{"qrepair-regression-"};
};

// nlohmann throws out_of_range (not parse_error) for 1e999; it escaped as an internal error.
TEST_F(ReliabilityRegressionTest, NumberOverflowInConfigIsBadInput) {
  std::string path = Write("q.json", R"({"weights": {"bits": 1e999}})");
  EXPECT_THAT(BadInputMessage([&] { LoadQuantConfig(path); }), HasSubstr(path));
}

TEST_F(ReliabilityRegressionTest, NumberOverflowInModelJsonIsBadInput) {
  std::string path = Write("m.json", R"({"format": "qrepair-model", "version": 1e999})");
  EXPECT_THAT(BadInputMessage([&] { LoadModelJson(path); }), HasSubstr(path));
}

// Multipliers >= 2^31 were clamped to shift 0 with m < 2^31, so the callers' ">= 2^31" checks
// never fired and a model with absurd scales was silently run with the wrong multiplier.
TEST_F(ReliabilityRegressionTest, MultiplierOf2To31OrMoreStaysVisibleToCallers) {
  for (double real : {2147483648.0, 3e9, 1e12, 1e300}) {
    FixedPointMultiplier f = MakeMultiplier(real);
    EXPECT_EQ(f.shift, 0) << real;
    EXPECT_GE(f.Value(), 2147483648.0) << real;
  }
  FixedPointMultiplier f = MakeMultiplier(1073741824.5);  // just below 2^31: still exact
  EXPECT_EQ(f.shift, 0);
  EXPECT_EQ(f.m, 1073741824);
  EXPECT_EQ(MakeMultiplier(1e300).m, INT64_MAX);
}

const char* kNnet =
    "// 1 layer, 2 -> 1\n1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n0.5,0.25,\n0.1,\n";

// A body longer than the header declares was loaded silently, truncated to the header's layers.
TEST_F(ReliabilityRegressionTest, NnetWithDataAfterTheLastLayerIsRefused) {
  std::string ok = Write("ok.nnet", kNnet);
  EXPECT_EQ(LoadNnet(ok).layers.size(), 2u);  // normalize + dense
  std::string path = Write("long.nnet", std::string(kNnet) + "0.5,0.5,\n0.2,\n");
  EXPECT_THAT(BadInputMessage([&] { LoadNnet(path); }),
              HasSubstr(path + ": line 11: unexpected data after the biases of layer 1"));
  EXPECT_NO_THROW(LoadNnet(Write("blank_tail.nnet", std::string(kNnet) + "\n  \n")));
}

// A NUL byte in a field was copied into the message, whose C string then ended there.
TEST_F(ReliabilityRegressionTest, NnetMessageShowsBinaryBytesEscaped) {
  std::string path = Write("nul.nnet", std::string("1,2,\x01\x00x,2,\n", 11));
  std::string message = BadInputMessage([&] { LoadNnet(path); });
  EXPECT_THAT(message, HasSubstr("'\\x01\\x00x' is not a number"));
}

// A per-layer override naming no layer was silently ignored (a typo quantized that layer with
// the defaults). Now it is bad input naming the config file, the JSON path and the real names.
TEST_F(ReliabilityRegressionTest, ConfigLayerOverrideNamingNoLayerIsRefused) {
  std::mt19937_64 rng(3);
  testing::RandomCase c = testing::MakeRandomCase(rng, 4, false);
  std::string last;  // the last dense or convolution layer
  for (const Layer& l : c.network.layers) {
    if (l.IsLinear()) last = l.name;
  }
  std::string path =
      Write("q.json", R"({"weights": {"bits": 4}, "layers": {"no_such_layer": {"bits": 3}}})");
  QuantConfig config = LoadQuantConfig(path);
  std::string message =
      BadInputMessage([&] { QuantizeNetwork(c.network, config, c.inputs, "m.onnx"); });
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, HasSubstr("$.layers.no_such_layer"));
  EXPECT_THAT(message, HasSubstr("'" + last + "'"));
  // A name that exists is accepted.
  path =
      Write("q2.json", R"({"weights": {"bits": 4}, "layers": {")" + last + R"(": {"bits": 3}}})");
  QuantizedNetwork q = QuantizeNetwork(c.network, LoadQuantConfig(path), c.inputs, "m.onnx");
  for (const QuantLayer& l : q.layers) {
    if (l.name == last) EXPECT_EQ(l.weight_bits, 3);
  }
}

}  // namespace
}  // namespace qrepair
