// Fixed-point models from the command line: a literature-style MLP against a numpy reference of
// its rules on every Fashion-MNIST test image, the hand-written example, and what a model with
// no float network behind it refuses (a --config, the float target).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "temp_dir.h"

namespace {

using qrepair::testing::TempDir;

const std::string kBinary = QREPAIR_BINARY;
const std::string kSource = QREPAIR_SOURCE_DIR;
const std::string kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const std::string kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
const std::string kData = " --data " + kImages + " --labels " + kLabels + " --input-scale 1/256";

int Shell(const TempDir& dir, const std::string& command, std::string* err = nullptr) {
  const int status =
      std::system(("cd " + dir.path() + " && " + command + " > out.txt 2> err.txt").c_str());
  if (err) {
    std::ifstream f(dir.Path("err.txt"));
    std::stringstream text;
    text << f.rdbuf();
    *err = text.str();
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The given column of a CSV with a header row.
std::vector<std::string> Column(const std::string& path, size_t column) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  std::vector<std::string> out;
  while (std::getline(f, line)) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    std::string cell;
    while (std::getline(row, cell, ',')) cells.push_back(cell);
    if (line.back() == ',') cells.emplace_back();
    out.push_back(column < cells.size() ? cells[column] : "?");
  }
  return out;
}

class FixedPointCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kImages)) GTEST_SKIP() << kImages << " is absent";
  }
  // Writes fixed_point_mlp.json and reference.csv (the numpy predictions) into dir_.
  void MakeMlp() {
    ASSERT_EQ(Shell(dir_, "/usr/bin/python3 " + kSource + "/tests/tools/fixed_point_mlp.py " +
                              kSource + "/models/fashion_mlp.onnx " + kImages + " ."),
              0);
  }
  TempDir dir_{"fixed_point_cli"};
};

// The verification literature's MLP (784-64-32-10, 6-bit weights with 5 fraction bits, 8-bit
// input p/256, round half up, clamp [0, 63], 6-bit signed output): qrepair's integer pass gives
// numpy's predictions of those rules on all 10000 test images.
TEST_F(FixedPointCliTest, LiteratureStyleMlpMatchesNumpyOnEveryTestImage) {
  MakeMlp();
  ASSERT_EQ(Shell(dir_, kBinary + " eval fixed_point_mlp.json" + kData + " --predictions p.csv"),
            0);
  const std::vector<std::string> ours = Column(dir_.Path("p.csv"), 3);
  const std::vector<std::string> floats = Column(dir_.Path("p.csv"), 2);
  const std::vector<std::string> numpy = Column(dir_.Path("reference.csv"), 1);
  ASSERT_EQ(ours.size(), 10000u);
  ASSERT_EQ(numpy.size(), 10000u);
  int differ = 0;
  for (size_t i = 0; i < ours.size(); ++i) differ += ours[i] != numpy[i];
  EXPECT_EQ(differ, 0);
  EXPECT_EQ(floats[0], "") << "no float decision is invented for a model without one";
  std::ifstream out(dir_.Path("out.txt"));
  std::stringstream text;
  text << out.rdbuf();
  EXPECT_EQ(text.str().find("float accuracy"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("quantized accuracy"), std::string::npos) << text.str();
}

// Repair against the labels writes a quantized model with no float network in it; the written
// file evaluates and re-verifies; the float target and a --config are refused with exit 2.
TEST_F(FixedPointCliTest, RepairsAgainstLabelsAndRefusesWhatNeedsAFloatNetwork) {
  MakeMlp();
  std::string err;
  EXPECT_EQ(
      Shell(dir_,
            kBinary + " repair fixed_point_mlp.json" + kData + " --repair-range 0:200 -o x.json",
            &err),
      2);
  EXPECT_NE(err.find("--target labels"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(dir_.Path("x.json")));
  std::ofstream(dir_.Path("q.json")) << R"({"weights": {"bits": 4}})";
  EXPECT_EQ(Shell(dir_, kBinary + " eval fixed_point_mlp.json --config q.json" + kData, &err), 2);
  EXPECT_NE(err.find("no float network"), std::string::npos) << err;

  // Exit 0 (repaired) or 5 (the time limit ended it): both write the verified network.
  const int code = Shell(dir_,
                         kBinary + " repair fixed_point_mlp.json" + kData +
                             " --repair-range 0:200 --holdout-range 200:400 --target labels"
                             " --time-limit 15 -o r.json --report r.json.report",
                         &err);
  ASSERT_TRUE(code == 0 || code == 5) << code << "\n" << err;
  std::ifstream model_file(dir_.Path("r.json"));
  const nlohmann::json model = nlohmann::json::parse(model_file);
  EXPECT_EQ(model["kind"], "quantized");
  EXPECT_FALSE(model.contains("network"));
  std::ifstream report_file(dir_.Path("r.json.report"));
  const nlohmann::json report = nlohmann::json::parse(report_file);
  EXPECT_TRUE(report["after"]["holdout"]["agreement"].is_null());
  EXPECT_TRUE(report["after"]["holdout"]["float_accuracy"].is_null());
  EXPECT_EQ(report["init_method"], "rtn");
  EXPECT_GE(report["after"]["repair"]["accuracy"].get<double>(),
            report["before"]["repair"]["accuracy"].get<double>());
  EXPECT_EQ(Shell(dir_, kBinary + " eval r.json" + kData + " --range 0:200 --json"), 0);
}

// The hand-written example of the README: evaluates and proves its property.
TEST_F(FixedPointCliTest, HandWrittenExampleEvaluatesAndVerifies) {
  const std::string ex = kSource + "/examples/fixed_point/";
  ASSERT_EQ(Shell(dir_, kBinary + " eval " + ex + "xor.json --data " + ex + "xor.csv --json"), 0);
  std::ifstream out(dir_.Path("out.txt"));
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["quantized"]["accuracy"], 1.0);
  EXPECT_TRUE(j["float"].is_null());
  EXPECT_EQ(Shell(dir_, kBinary + " verify " + ex + "xor.json --property " + ex + "one_hot.vnnlib"),
            0);
}

}  // namespace
