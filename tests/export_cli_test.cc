// The `export` and `sweep` subcommands, repair's export options and the "mse" scale rule, run
// as a user would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "temp_dir.h"

namespace {

using qrepair::testing::TempDir;

const std::string kBinary = QREPAIR_BINARY;
const std::string kModel = std::string(QREPAIR_SOURCE_DIR) + "/models/tiny_mlp.onnx";
const std::string kData =
    " --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
    " --labels /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
    " --input-scale 0.00392156862745098";

// Runs `args` (stdout to `out`, stderr to `err`) and returns the exit code.
int Qrepair(const TempDir& dir, const std::string& args, std::string* out = nullptr) {
  std::string command =
      "cd " + dir.path() + " && " + kBinary + " " + args + " > stdout.txt 2> stderr.txt";
  int status = std::system(command.c_str());
  if (out) {
    std::ifstream f(dir.Path("stdout.txt"));
    std::stringstream text;
    text << f.rdbuf();
    *out = text.str();
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool NonEmpty(const std::string& path) {
  return std::filesystem::exists(path) && std::filesystem::file_size(path) > 0;
}

class ExportCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")) {
      GTEST_SKIP() << "Fashion-MNIST missing (Debian package dataset-fashion-mnist)";
    }
    std::ofstream(dir_.Path("q.json"))
        << R"({"weights": {"bits": 4, "granularity": "per-tensor"}, "activations": {"bits": 8}})";
  }
  TempDir dir_{"export_cli"};
};

TEST_F(ExportCliTest, ExportsAQuantizedModelAndRefusesToOverwriteIt) {
  ASSERT_EQ(Qrepair(dir_, "quantize " + kModel + " --config q.json" + kData +
                              " --range 0:300 -o model.json"),
            0);
  EXPECT_EQ(Qrepair(dir_, "export model.json --onnx model.onnx --c-header model.h --prefix tiny"),
            0);
  EXPECT_TRUE(NonEmpty(dir_.Path("model.onnx")));
  EXPECT_TRUE(NonEmpty(dir_.Path("model.h")));
  EXPECT_EQ(Qrepair(dir_, "export model.json --onnx model.json"), 2);
  EXPECT_EQ(Qrepair(dir_, "export model.json"), 2);
  EXPECT_EQ(Qrepair(dir_, "export model.json --c-header x.h --prefix 9lives"), 2);
  EXPECT_FALSE(std::filesystem::exists(dir_.Path("x.h")));
}

// What an exporter cannot express is bad input (exit 3) naming the model file, and nothing is
// written: a weights-only network has no integer form for the C header.
TEST_F(ExportCliTest, ExportRefusalNamesTheFileAndWritesNothing) {
  std::ofstream(dir_.Path("qw.json"))
      << R"({"weights": {"bits": 4, "granularity": "per-tensor"}, "activations": "float"})";
  ASSERT_EQ(Qrepair(dir_, "quantize " + kModel + " --config qw.json" + kData +
                              " --range 0:300 -o weights_only.json"),
            0);
  EXPECT_EQ(Qrepair(dir_, "export weights_only.json --onnx w.onnx --c-header w.h --prefix w"), 3);
  std::ifstream err(dir_.Path("stderr.txt"));
  std::stringstream text;
  text << err.rdbuf();
  EXPECT_NE(text.str().find("weights_only.json: cannot export"), std::string::npos) << text.str();
  EXPECT_FALSE(std::filesystem::exists(dir_.Path("w.onnx")));
  EXPECT_FALSE(std::filesystem::exists(dir_.Path("w.h")));
}

TEST_F(ExportCliTest, RepairWritesExportsAndThePerClassPlot) {
  int rc =
      Qrepair(dir_, "repair " + kModel + " --config q.json" + kData +
                        " --repair-range 0:300 --holdout-range 300:600 --time-limit 10 -o r.json"
                        " --onnx r.onnx --c-header r.h --report-svg r.svg");
  EXPECT_TRUE(rc == 0 || rc == 4 || rc == 5) << "exit code " << rc;
  for (const char* f : {"r.json", "r.onnx", "r.h", "r.svg"})
    EXPECT_TRUE(NonEmpty(dir_.Path(f))) << f;
}

// Export options that cannot work are refused before the repair does any work, and nothing
// is written. (A render that fails after the repair writes nothing either: repair_test.)
TEST_F(ExportCliTest, RepairRefusesBadExportOptionsBeforeWorking) {
  std::ofstream(dir_.Path("qw.json"))
      << R"({"weights": {"bits": 4, "granularity": "per-tensor"}, "activations": "float"})";
  const std::string common = "repair " + kModel + kData +
                             " --repair-range 0:300 --time-limit 10 --max-rounds 1 -o r.json"
                             " --report r.report.json --onnx r.onnx --c-header r.h";
  auto stderr_text = [&] {
    std::ifstream err(dir_.Path("stderr.txt"));
    std::stringstream text;
    text << err.rdbuf();
    return text.str();
  };
  EXPECT_EQ(Qrepair(dir_, common + " --config q.json --prefix 9lives"), 2);
  EXPECT_NE(stderr_text().find("--prefix '9lives' is not a C identifier"), std::string::npos)
      << stderr_text();
  EXPECT_EQ(stderr_text().find("init"), std::string::npos) << stderr_text();
  EXPECT_EQ(Qrepair(dir_, common + " --config qw.json"), 2);
  EXPECT_NE(stderr_text().find("repair needs integer activations"), std::string::npos)
      << stderr_text();
  EXPECT_EQ(stderr_text().find("init gptq"), std::string::npos) << stderr_text();
  for (const char* f : {"r.json", "r.report.json", "r.onnx", "r.h"})
    EXPECT_FALSE(std::filesystem::exists(dir_.Path(f))) << f << " was written";
}

// Past 8 bits the ONNX export quantizes activations in float (opset 13's QuantizeLinear is
// 8-bit only); the C header keeps them exact.
TEST_F(ExportCliTest, RepairExportsTenBitActivations) {
  std::ofstream(dir_.Path("q10.json"))
      << R"({"weights": {"bits": 4, "granularity": "per-tensor"}, "activations": {"bits": 10}})";
  int rc = Qrepair(dir_, "repair " + kModel + " --config q10.json" + kData +
                             " --repair-range 0:300 --time-limit 10 --max-rounds 1 -o r.json"
                             " --onnx r.onnx --c-header r.h");
  EXPECT_TRUE(rc == 0 || rc == 4 || rc == 5) << "exit code " << rc;
  for (const char* f : {"r.json", "r.onnx", "r.h"}) EXPECT_TRUE(NonEmpty(dir_.Path(f))) << f;
}

// `"scale": "mse"` end to end: the repaired file keeps the rule in its config and scales that
// are max-abs ones shrunk by the search (both layers of this 3-bit network shrink), its report
// is verified, and `eval` of the file measures what the report says.
TEST_F(ExportCliTest, RepairWithMseScalesWritesWhatEvalReproduces) {
  std::ofstream(dir_.Path("mse.json"))
      << R"({"weights": {"bits": 3, "scale": "mse"}, "activations": {"bits": 8}})";
  int rc = Qrepair(dir_, "repair " + kModel + " --config mse.json" + kData +
                             " --repair-range 0:300 --holdout-range 300:600 --time-limit 10"
                             " --max-rounds 1 -o r.json --report r.report.json");
  ASSERT_TRUE(rc == 0 || rc == 4 || rc == 5) << "exit code " << rc;
  const nlohmann::json model = nlohmann::json::parse(std::ifstream(dir_.Path("r.json")));
  const nlohmann::json report = nlohmann::json::parse(std::ifstream(dir_.Path("r.report.json")));
  EXPECT_TRUE(report["verified"].get<bool>());
  EXPECT_EQ(model["quantized"]["config"]["weights"]["scale"], "mse");
  int shrunk = 0;
  for (const auto& q : model["quantized"]["layers"]) {
    if (!q.contains("weight_scales")) continue;
    double max_abs = 0;
    for (const auto& f : model["network"]["layers"]) {
      if (f["name"] != q["name"]) continue;
      for (const auto& w : f["weights"]) max_abs = std::max(max_abs, std::abs(w.get<double>()));
    }
    max_abs /= 3;  // 3-bit codes: max|w| / (2^2 - 1)
    const double scale = q["weight_scales"][0].get<double>();
    EXPECT_LE(scale, max_abs * (1 + 1e-9)) << q["name"];
    EXPECT_GE(scale, 0.2 * max_abs * (1 - 1e-9)) << q["name"];
    shrunk += scale < 0.95 * max_abs ? 1 : 0;
  }
  EXPECT_EQ(shrunk, 2);
  std::string out;
  ASSERT_EQ(Qrepair(dir_, "eval r.json" + kData + " --range 300:600 --json", &out), 0);
  const nlohmann::json eval = nlohmann::json::parse(out);
  EXPECT_DOUBLE_EQ(eval["quantized"]["agreement"].get<double>(),
                   report["after"]["holdout"]["agreement"].get<double>());
  EXPECT_DOUBLE_EQ(eval["quantized"]["accuracy"].get<double>(),
                   report["after"]["holdout"]["accuracy"].get<double>());
}

// `eval` of a float model without --config: the float accuracy and the per-class table, the
// same accuracy that eval with a config reports for the float network.
TEST_F(ExportCliTest, EvalOfAFloatModelWithoutConfigPrintsItsAccuracy) {
  std::string alone, with_config, table;
  ASSERT_EQ(Qrepair(dir_, "eval " + kModel + kData + " --range 0:500 --json", &alone), 0);
  ASSERT_EQ(Qrepair(dir_, "eval " + kModel + " --config q.json" + kData + " --range 0:500 --json",
                    &with_config),
            0);
  const nlohmann::json a = nlohmann::json::parse(alone), b = nlohmann::json::parse(with_config);
  EXPECT_EQ(a["samples"], 500);
  EXPECT_TRUE(a["quantized"].is_null());
  EXPECT_DOUBLE_EQ(a["float"]["accuracy"].get<double>(), b["float"]["accuracy"].get<double>());
  ASSERT_EQ(a["per_class"].size(), 10u);
  int64_t samples = 0;
  for (const nlohmann::json& c : a["per_class"]) samples += c["samples"].get<int64_t>();
  EXPECT_EQ(samples, 500);
  ASSERT_EQ(Qrepair(dir_, "eval " + kModel + kData + " --range 0:500", &table), 0);
  EXPECT_NE(table.find("float accuracy:"), std::string::npos) << table;
  EXPECT_NE(table.find("| 9 |"), std::string::npos) << table;
  EXPECT_EQ(table.find("quantized"), std::string::npos) << table;
}

// Labels outside the network's classes are bad input in every command that reads labels, and
// the message names the labels file, the row and the value.
TEST_F(ExportCliTest, LabelsOutsideTheClassesAreBadInput) {
  {
    std::ofstream labels(dir_.Path("labels.txt"));  // one label per image of the data file
    for (int row = 0; row < 10000; ++row) labels << (row == 2 ? 42 : row % 10) << "\n";
  }
  const std::string data =
      " --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --range 0:4"
      " --labels labels.txt --input-scale 0.00392156862745098";
  for (const std::string& command :
       {"eval " + kModel + data, "eval " + kModel + " --config q.json" + data,
        "rank " + kModel + " --config q.json" + data}) {
    EXPECT_EQ(Qrepair(dir_, command), 3) << command;
    std::ifstream err(dir_.Path("stderr.txt"));
    const std::string text((std::istreambuf_iterator<char>(err)), {});
    EXPECT_NE(text.find("labels.txt: row 2: label 42 is not a class of the network: expected 0..9"),
              std::string::npos)
        << command << ": " << text;
  }
  const std::string repair = "repair " + kModel +
                             " --config q.json --data "
                             "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz "
                             "--labels labels.txt --repair-range 0:2 --holdout-range 2:4 -o r.json";
  EXPECT_EQ(Qrepair(dir_, repair), 3);
  EXPECT_FALSE(std::filesystem::exists(dir_.Path("r.json")));
}

TEST_F(ExportCliTest, SweepPrintsOneRowPerWidthAndWritesThePlot) {
  std::string out;
  ASSERT_EQ(Qrepair(dir_,
                    "sweep " + kModel + kData +
                        " --bits 3..4 --repair-range 0:300 --holdout-range 300:600"
                        " --time-limit 5 --svg sweep.svg",
                    &out),
            0);
  EXPECT_NE(out.find("| 3 |"), std::string::npos) << out;
  EXPECT_NE(out.find("| 4 |"), std::string::npos) << out;
  EXPECT_TRUE(NonEmpty(dir_.Path("sweep.svg")));
  EXPECT_EQ(Qrepair(dir_, "sweep " + kModel + kData + " --bits 1..4"), 2);
}

// `sweep --scale` reaches the quantization: the 3-bit round-to-nearest row differs between
// max-abs and mse scales; an unknown rule is a usage error.
TEST_F(ExportCliTest, SweepQuantizesWithTheScaleRuleGiven) {
  std::string rtn_figures[2];
  const char* rules[2] = {"max-abs", "mse"};
  for (int k = 0; k < 2; ++k) {
    std::string out;
    ASSERT_EQ(Qrepair(dir_,
                      "sweep " + kModel + kData +
                          " --bits 3 --repair-range 0:300 --holdout-range 300:600 --time-limit 5"
                          " --json --scale " +
                          rules[k],
                      &out),
              0)
        << out;
    const nlohmann::json j = nlohmann::json::parse(out);
    ASSERT_EQ(j["rows"].size(), 1u) << out;
    rtn_figures[k] = j["rows"][0]["round_to_nearest"].dump();
  }
  EXPECT_NE(rtn_figures[0], rtn_figures[1]);
  EXPECT_EQ(Qrepair(dir_, "sweep " + kModel + kData + " --bits 3 --scale mmse"), 2);
}

// As in `repair`, an init worse than round to nearest on the repair set is not where the
// repair starts: plain GPTQ at 8 bits on these 300 images (see fault_test).
TEST_F(ExportCliTest, SweepStartsFromRtnWhenTheInitIsWorse) {
  std::string out;
  ASSERT_EQ(Qrepair(dir_,
                    "sweep " + kModel + kData +
                        " --bits 8 --repair-range 0:300 --time-limit 5 --init gptq --json",
                    &out),
            0)
      << out;
  const nlohmann::json j = nlohmann::json::parse(out);
  ASSERT_EQ(j["rows"].size(), 1u) << out;
  EXPECT_EQ(j["rows"][0]["start_from"], "rtn") << out;
  // The init's own figures are still reported (here measured on the repair rows).
  EXPECT_LT(j["rows"][0]["start"]["quantized"]["agreement"].get<double>(),
            j["rows"][0]["round_to_nearest"]["quantized"]["agreement"].get<double>());
}

}  // namespace
