// `qrepair verify --radius` run as a user would: a small network the test makes, integer CSV
// data, and the truth from enumerating every grid point of every ball with the reference pass.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "process_runner.h"
#include "qrepair/io/dataset.h"
#include "qrepair/io/json_io.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"

namespace qrepair {
namespace {

using nlohmann::json;
using testing::ProcessResult;
using testing::RunProcess;
using testing::TempDir;

constexpr double kTimeout = 300;
constexpr int kLevels = 10;  // raw values 0..10, input = raw / 10

Network SmallNetwork() {
  std::mt19937_64 rng(17);
  std::normal_distribution<float> w(0.0f, 1.0f);
  Network n;
  n.name = "small";
  n.input_shape = Shape{3, 1, 1};
  Layer hidden;
  hidden.name = "hidden";
  for (int i = 0; i < 6 * 3; ++i) hidden.weights.push_back(w(rng));
  for (int i = 0; i < 6; ++i) hidden.bias.push_back(0.2f * w(rng));
  Layer relu;
  relu.kind = LayerKind::kRelu;
  Layer out;
  out.name = "out";
  for (int i = 0; i < 3 * 6; ++i) out.weights.push_back(w(rng));
  out.bias = {0.0f, 0.1f, -0.1f};
  n.layers = {hidden, relu, out};
  ValidateNetwork(n, "small");
  return n;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class CertifyCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Network n = SmallNetwork();
    std::ofstream(Path("q.json")) << R"({"weights": {"bits": 5}, "activations": {"bits": 6}})";
    std::mt19937_64 rng(3);
    std::ostringstream csv;
    FloatBatch x(3, kRows);
    for (int r = 0; r < kRows; ++r) {
      for (int i = 0; i < 3; ++i) {
        raw_[r][i] = std::uniform_int_distribution<int>(0, kLevels)(rng);
        x(i, r) = static_cast<float>(raw_[r][i] * (1.0 / kLevels));
      }
    }
    ModelFile file;
    file.float_network = n;
    file.quantized = QuantizeNetwork(n, LoadQuantConfig(Path("q.json")), x, "small");
    file.has_quantized = true;
    std::ofstream(Path("model.json")) << ModelFileToJson(file).dump();
    quantized_ = file.quantized;
    const std::vector<int> labels = ArgmaxColumns(ForwardFloat(n, x));
    for (int r = 0; r < kRows; ++r) {
      csv << raw_[r][0] << "," << raw_[r][1] << "," << raw_[r][2] << "," << labels[r] << "\n";
      labels_[r] = labels[r];
    }
    std::ofstream(Path("data.csv")) << csv.str();
  }

  // Whether `hit(x)` holds for the input x of some grid point of the ball (clipped to 0..kLevels).
  template <typename Hit>
  bool AnyBallPoint(int row, int radius, Hit hit) const {
    for (int a = -radius; a <= radius; ++a)
      for (int b = -radius; b <= radius; ++b)
        for (int c = -radius; c <= radius; ++c) {
          const int p[3] = {raw_[row][0] + a, raw_[row][1] + b, raw_[row][2] + c};
          bool inside = true;
          FloatBatch x(3, 1);
          for (int i = 0; i < 3; ++i) {
            inside = inside && p[i] >= 0 && p[i] <= kLevels;
            x(i, 0) = static_cast<float>(p[i] * (1.0 / kLevels));
          }
          if (inside && hit(x)) return true;
        }
    return false;
  }

  // Does some grid point of the ball change the quantized decision away from the label?
  bool NonRobust(int row, int radius) const { return NonRobust(quantized_, row, radius); }
  bool NonRobust(const QuantizedNetwork& q, int row, int radius) const {
    return AnyBallPoint(row, radius, [&](const FloatBatch& x) {
      return PredictQuantized(q, x)[0] != labels_[row];
    });
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
  ProcessResult Qrepair(std::vector<std::string> args) {
    args.insert(args.begin(), QREPAIR_BINARY);
    return RunProcess(args, dir_.path(), kTimeout);
  }
  static constexpr int kRows = 16;
  TempDir dir_{"qrepair-certify-cli-"};
  QuantizedNetwork quantized_;
  int raw_[kRows][3] = {};
  int labels_[kRows] = {};
};

TEST_F(CertifyCliTest, VerdictsEqualEnumerationAndCounterexamplesReRun) {
  ProcessResult r = Qrepair({"verify", "model.json", "--data", "data.csv", "--input-scale", "0.1",
                             "--clip", "0:10", "--radius", "1,2", "--report", "r.json",
                             "--report-md", "r.md", "--counterexamples", "ce", "--json"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe() << "\n" << r.err << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j, json::parse(Read(Path("r.json"))));
  const std::vector<int> predicted = [&] {
    FloatBatch x(3, kRows);
    for (int row = 0; row < kRows; ++row)
      for (int i = 0; i < 3; ++i) x(i, row) = static_cast<float>(raw_[row][i] * (1.0 / kLevels));
    return PredictQuantized(quantized_, x);
  }();
  int non_robust = 0;
  for (const json& s : j["samples"]) {
    const int row = s["index"].get<int>();
    const int radius = static_cast<int>(s["radius"].get<double>());
    if (predicted[row] != labels_[row]) {
      EXPECT_EQ(s["verdict"], "misclassified");
      continue;
    }
    const bool truth = NonRobust(row, radius);
    ASSERT_EQ(s["verdict"], truth ? "non-robust" : "robust") << s.dump();
    if (!truth) continue;
    ++non_robust;
    // The counterexample file is raw data: loaded as a user's `qrepair eval --data` would.
    DataOptions d;
    d.data_path = Path(s["counterexample_file"].get<std::string>());  // relative to the run
    d.input_scale = 0.1;
    Dataset ce = LoadDataset(d);
    ASSERT_EQ(ce.rows, 1);
    EXPECT_NE(PredictQuantized(quantized_, InputBatch(ce))[0], labels_[row]);
  }
  EXPECT_GT(non_robust, 0);
  EXPECT_NE(Read(Path("r.md")).find("| radius | samples |"), std::string::npos);
  EXPECT_NE(Read(Path("r.md")).find("valid raw range 0..10 (from --clip)"), std::string::npos);
}

TEST_F(CertifyCliTest, ResumeReusesTheJournal) {
  const std::vector<std::string> args{"verify",        "model.json", "--data",   "data.csv",
                                      "--input-scale", "0.1",        "--clip",   "0:10",
                                      "--radius",      "1",          "--report", "r.json"};
  ProcessResult first = Qrepair(args);
  ASSERT_TRUE(first.exited && first.exit_code == 0) << first.Describe() << first.err;
  std::vector<std::string> again = args;
  again.push_back("--resume-certificates");
  ProcessResult second = Qrepair(again);
  ASSERT_TRUE(second.exited && second.exit_code == 0) << second.Describe() << second.err;
  EXPECT_EQ(json::parse(Read(Path("r.json")))["resumed"], kRows);
}

TEST_F(CertifyCliTest, LabelsOutsideTheClassesAreExit3) {
  std::ofstream(Path("bad.csv")) << "1,2,3,0\n4,5,6,42\n";
  ProcessResult r = Qrepair(
      {"verify", "model.json", "--data", "bad.csv", "--input-scale", "0.1", "--radius", "1"});
  ASSERT_TRUE(r.exited && r.exit_code == 3) << r.Describe() << r.err;
  EXPECT_NE(r.err.find("bad.csv"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("42"), std::string::npos) << r.err;
}

TEST_F(CertifyCliTest, RadiusTakesOnlyTheRobustOrTheEquivalentProperty) {
  ProcessResult r = Qrepair(
      {"verify", "model.json", "--data", "data.csv", "--radius", "1", "--property", "p.vnnlib"});
  ASSERT_TRUE(r.exited && r.exit_code == 2) << r.Describe() << r.err;
  EXPECT_NE(r.err.find("robust or equivalent"), std::string::npos) << r.err;
}

// --property equivalent: each verdict equals the enumeration of the ball (float32 pass against
// the integer pass: no grid point of this network is near a float tie), and each
// counterexample file re-runs to two different decisions.
TEST_F(CertifyCliTest, EquivalentVerdictsEqualEnumerationAndCounterexamplesReRun) {
  ProcessResult r =
      Qrepair({"verify", "model.json", "--data", "data.csv", "--input-scale", "0.1", "--clip",
               "0:10", "--radius", "1,2", "--property", "equivalent", "--report", "e.json",
               "--report-md", "e.md", "--counterexamples", "ce", "--json"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe() << "\n" << r.err << r.out;
  const json j = json::parse(r.out);
  const Network n = SmallNetwork();
  const auto differs = [&](const FloatBatch& x) {
    return ArgmaxColumns(ForwardFloat(n, x))[0] != PredictQuantized(quantized_, x)[0];
  };
  int equivalent = 0, non_equivalent = 0;
  for (const json& s : j["samples"]) {
    const int row = s["index"].get<int>();
    const int radius = static_cast<int>(s["radius"].get<double>());
    const bool truth = AnyBallPoint(row, radius, differs);
    ASSERT_EQ(s["verdict"], truth ? "non-equivalent" : "equivalent") << s.dump();
    if (!truth) {
      ++equivalent;
      continue;
    }
    ++non_equivalent;
    DataOptions d;
    d.data_path = Path(s["counterexample_file"].get<std::string>());
    d.input_scale = 0.1;
    Dataset ce = LoadDataset(d);
    ASSERT_EQ(ce.rows, 1);
    EXPECT_EQ(PredictQuantized(quantized_, InputBatch(ce))[0], s["counterexample_top1"]);
    EXPECT_EQ(ArgmaxColumns(ForwardFloat(n, InputBatch(ce)))[0], s["counterexample_float_top1"]);
    EXPECT_TRUE(differs(InputBatch(ce)));
  }
  EXPECT_GT(equivalent, 0);
  EXPECT_GT(non_equivalent, 0);
  EXPECT_EQ(j["summary"][0]["property"], "equivalent");
  EXPECT_NE(Read(Path("e.md")).find("| radius | samples | decided | equivalent |"),
            std::string::npos);
}

// Repair with --robust-radius: the right repair samples become goals "robust over the ball's
// box"; every sample the report counts as certified on the written file is robust on its grid
// by enumeration, and when the job says proved (exit 0) every right sample is.
TEST_F(CertifyCliTest, RepairWithRobustRadiusCertifiesByEnumeration) {
  ProcessResult r = Qrepair({"repair",
                             "model.json",
                             "--data",
                             "data.csv",
                             "--input-scale",
                             "0.1",
                             "--repair-range",
                             "0:16",
                             "--init",
                             "rtn",
                             "--target",
                             "labels",
                             "--robust-radius",
                             "1",
                             "--time-limit",
                             "120",
                             "-o",
                             "r.json",
                             "--report",
                             "rep.json"});
  ASSERT_TRUE(r.exited && (r.exit_code == 0 || r.exit_code == 9 || r.exit_code == 5))
      << r.Describe() << "\n"
      << r.err;
  const json rep = json::parse(Read(Path("rep.json")));
  const json& rb = rep["robustness"];
  ASSERT_TRUE(rb.is_object()) << rep.dump();
  EXPECT_EQ(rb["samples"], kRows);
  const QuantizedNetwork repaired = LoadModelJson(Path("r.json")).quantized;
  FloatBatch x(3, kRows);
  for (int row = 0; row < kRows; ++row)
    for (int i = 0; i < 3; ++i) x(i, row) = static_cast<float>(raw_[row][i] * (1.0 / kLevels));
  const std::vector<int> before = PredictQuantized(quantized_, x);
  const std::vector<int> after = PredictQuantized(repaired, x);
  int right = 0, robust_before = 0, robust_after = 0;
  for (int row = 0; row < kRows; ++row) {
    if (before[row] != labels_[row]) continue;
    ++right;
    EXPECT_EQ(after[row], labels_[row]) << "row " << row << ": a right sample was broken";
    robust_before += !NonRobust(quantized_, row, 1);
    robust_after += !NonRobust(repaired, row, 1);
  }
  EXPECT_EQ(rb["right"], right);
  // Box proofs are grid proofs: certified counts never exceed the enumerated truth.
  EXPECT_LE(rb["certified_before"].get<int>(), robust_before);
  EXPECT_LE(rb["certified_after"].get<int>(), robust_after);
  EXPECT_EQ(rb["certified_after"].get<int>() + rb["violated_after"].get<int>() +
                rb["unknown_after"].get<int>(),
            right);
  if (r.exit_code == 0) EXPECT_EQ(robust_after, right);
  std::cout << "[ figures  ] radius 1: " << right << " right samples; grid-robust before "
            << robust_before << ", after " << robust_after << "; certified before "
            << rb["certified_before"] << ", after " << rb["certified_after"] << "; exit "
            << r.exit_code << "\n";
  EXPECT_GT(robust_after, robust_before) << "the repair made no sample robust";
}

}  // namespace
}  // namespace qrepair
