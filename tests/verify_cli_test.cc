// `qrepair verify` run as a user would, on a 2-input network the test makes and enumerates:
// the truth comes from the reference integer pass over every input code of the box, the
// properties are cut just above and just below the largest reachable output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "process_runner.h"
#include "qrepair/io/json_io.h"
#include "qrepair/io/model_source.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"

namespace qrepair {
namespace {

using nlohmann::json;
using testing::ProcessResult;
using testing::RunProcess;
using testing::TempDir;

constexpr double kTimeout = 300;

Network TinyNetwork() {
  Network n;
  n.name = "tiny";
  n.input_shape = Shape{2, 1, 1};
  Layer hidden;
  hidden.name = "hidden";
  hidden.weights = {1.0f, -0.5f, 0.25f, 1.0f, -1.0f, 0.75f, 0.5f, 0.5f};
  hidden.bias = {0.1f, 0.0f, -0.2f, 0.05f};
  hidden.output_shape = Shape{4, 1, 1};
  Layer relu;
  relu.kind = LayerKind::kRelu;
  Layer out;
  out.name = "out";
  out.weights = {1.0f, -1.0f, 0.5f, 0.3f, -0.5f, 1.0f, 0.25f, -0.4f};
  out.bias = {0.0f, 0.1f};
  out.output_shape = Shape{2, 1, 1};
  n.layers = {hidden, relu, out};
  ValidateNetwork(n, "tiny");
  return n;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Decimal(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// X_0, X_1 in [-1, 1]; unsafe iff Y_0 >= threshold.
std::string Property(double threshold) {
  return "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
         "(declare-const Y_1 Real)\n(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"
         "(assert (>= X_1 -1))\n(assert (<= X_1 1))\n(assert (>= Y_0 " +
         Decimal(threshold) + "))\n";
}

class VerifyCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Network n = TinyNetwork();
    std::ofstream(Path("q.json")) << R"({"weights": {"bits": 6}, "activations": {"bits": 6}})";
    // Calibration rows (CSV: features then a label) for the float path, the same as below.
    std::ofstream(Path("cal.csv")) << "-1,1,0\n1,-1,0\n0.5,0.5,0\n-0.25,0.75,0\n";
    FloatBatch calibration(2, 4);
    calibration << -1, 1, 0.5, -0.25, 1, -1, 0.5, 0.75;
    ModelFile file;
    file.float_network = n;
    std::ofstream(Path("float.json")) << ModelFileToJson(file).dump();
    file.quantized = QuantizeNetwork(n, LoadQuantConfig(Path("q.json")), calibration, "tiny");
    file.has_quantized = true;
    std::ofstream(Path("model.json")) << ModelFileToJson(file).dump();
    quantized_ = file.quantized;

    // Every input code of the box, through the reference pass: the largest Y_0 code.
    FloatBatch corners(2, 2);
    corners << -1, 1, -1, 1;
    CodeBatch c = QuantizeInput(quantized_, corners);
    int64_t lo0 = c(0, 0), hi0 = c(0, 1), lo1 = c(1, 0), hi1 = c(1, 1);
    CodeBatch all(2, (hi0 - lo0 + 1) * (hi1 - lo1 + 1));
    int64_t k = 0;
    for (int64_t a = lo0; a <= hi0; ++a) {
      for (int64_t b = lo1; b <= hi1; ++b, ++k) {
        all(0, k) = static_cast<int32_t>(a);
        all(1, k) = static_cast<int32_t>(b);
      }
    }
    CodeBatch logits = ForwardInteger(quantized_, all);
    max_code_ = logits.row(0).maxCoeff();
    scale_ = quantized_.layers.back().output.scale;
  }
  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
  ProcessResult Qrepair(std::vector<std::string> args) {
    args.insert(args.begin(), QREPAIR_BINARY);
    return RunProcess(args, dir_.path(), kTimeout);
  }
  TempDir dir_{"qrepair-verify-cli-"};
  QuantizedNetwork quantized_;
  int64_t max_code_ = 0;
  double scale_ = 1;
};

TEST_F(VerifyCliTest, AnUnreachableOutputHoldsExit0WithJson) {
  std::ofstream(Path("holds.vnnlib")) << Property((max_code_ + 0.5) * scale_);
  ProcessResult r = Qrepair({"verify", "model.json", "--property", "holds.vnnlib", "--json",
                             "--counterexample", "ce.json"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe() << "\n" << r.err << r.out;
  json j = json::parse(r.out);
  EXPECT_EQ(j["verdict"], "holds");
  EXPECT_EQ(j["property"], "holds.vnnlib");
  EXPECT_EQ(j["model"], "model.json");
  EXPECT_TRUE(j["counterexample"].is_null());
  EXPECT_TRUE(j["stats"].is_object());
  EXPECT_GE(j["seconds"].get<double>(), 0);
  EXPECT_FALSE(std::filesystem::exists(Path("ce.json")));  // written only when violated
}

TEST_F(VerifyCliTest, TheLargestOutputIsViolatedExit9AndTheCounterexampleChecks) {
  const double threshold = (max_code_ - 0.5) * scale_;  // only the maximizing codes are unsafe
  std::ofstream(Path("violated.vnnlib")) << Property(threshold);
  ProcessResult r = Qrepair(
      {"verify", "model.json", "--property", "violated.vnnlib", "--counterexample", "ce.json"});
  ASSERT_TRUE(r.exited && r.exit_code == 9) << r.Describe() << "\n" << r.err << r.out;
  EXPECT_NE(r.out.find("verdict: violated"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("input"), std::string::npos) << r.out;
  json ce = json::parse(Read(Path("ce.json")))["counterexample"];
  // Re-run the claimed input through the reference pass: the codes and outputs it claims.
  std::vector<double> input = ce["input"].get<std::vector<double>>();
  ASSERT_EQ(input.size(), 2u);
  FloatBatch x(2, 1);
  for (int i = 0; i < 2; ++i) {
    EXPECT_GE(input[i], -1.0);
    EXPECT_LE(input[i], 1.0);
    x(i, 0) = static_cast<float>(input[i]);
  }
  CodeBatch codes = QuantizeInput(quantized_, x);
  EXPECT_EQ(ce["codes"], json({codes(0, 0), codes(1, 0)}));
  CodeBatch logits = ForwardInteger(quantized_, codes);
  EXPECT_EQ(ce["logits"], json({logits(0, 0), logits(1, 0)}));
  EXPECT_EQ(logits(0, 0), max_code_);
  EXPECT_DOUBLE_EQ(ce["output"][0].get<double>(), logits(0, 0) * scale_);
  EXPECT_GE(ce["output"][0].get<double>(), threshold);

  ProcessResult j = Qrepair({"verify", "model.json", "--property", "violated.vnnlib", "--json"});
  ASSERT_EQ(j.exit_code, 9) << j.err;
  EXPECT_EQ(json::parse(j.out)["counterexample"]["codes"].size(), 2u);
}

TEST_F(VerifyCliTest, AFloatModelIsQuantizedOnTheFlyAsEvalDoes) {
  ProcessResult q = Qrepair(
      {"quantize", "float.json", "--config", "q.json", "--data", "cal.csv", "-o", "rtn.json"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  std::ofstream(Path("violated.vnnlib")) << Property((max_code_ - 0.5) * scale_);
  ProcessResult direct = Qrepair({"verify", "float.json", "--config", "q.json", "--data", "cal.csv",
                                  "--property", "violated.vnnlib", "--json"});
  ProcessResult saved = Qrepair({"verify", "rtn.json", "--property", "violated.vnnlib", "--json"});
  ASSERT_EQ(saved.exit_code, 9) << saved.err;
  EXPECT_EQ(direct.exit_code, 9) << direct.err;
  ProcessResult no_config = Qrepair({"verify", "float.json", "--property", "violated.vnnlib"});
  EXPECT_EQ(no_config.exit_code, 2) << no_config.err;
  EXPECT_NE(no_config.err.find("--config"), std::string::npos) << no_config.err;
}

// With "decision": "argmin" the last layer is negated in memory; Y_j must still be the outputs
// the model file computes: the largest Y_0 is the smallest in-memory logit code, negated.
TEST_F(VerifyCliTest, ArgminOutputsAreInTheModelFilesOrientation) {
  std::ofstream(Path("qmin.json"))
      << R"({"weights": {"bits": 6}, "activations": {"bits": 6}, "decision": "argmin"})";
  DataOptions d;
  d.data_path = Path("cal.csv");
  ModelFile m = OpenModel(Path("float.json"), Path("qmin.json"), LoadDataset(d));
  ASSERT_TRUE(m.quantized.config.decision == Decision::kArgmin);
  FloatBatch corners(2, 2);
  corners << -1, 1, -1, 1;
  CodeBatch c = QuantizeInput(m.quantized, corners);
  int64_t min_code = INT64_MAX;
  for (int32_t a = c(0, 0); a <= c(0, 1); ++a) {
    for (int32_t b = c(1, 0); b <= c(1, 1); ++b) {
      CodeBatch x(2, 1);
      x << a, b;
      min_code = std::min<int64_t>(min_code, ForwardInteger(m.quantized, x)(0, 0));
    }
  }
  const double scale = m.quantized.layers.back().output.scale;
  const double largest_y0 = -static_cast<double>(min_code) * scale;
  std::ofstream(Path("holds.vnnlib")) << Property(largest_y0 + 0.5 * scale);
  std::ofstream(Path("violated.vnnlib")) << Property(largest_y0 - 0.5 * scale);
  const std::vector<std::string> quantize = {"--config", "qmin.json", "--data", "cal.csv"};
  std::vector<std::string> holds = {"verify", "float.json", "--property", "holds.vnnlib"};
  holds.insert(holds.end(), quantize.begin(), quantize.end());
  ProcessResult h = Qrepair(holds);
  EXPECT_EQ(h.exit_code, 0) << h.err << h.out;
  std::vector<std::string> violated = {"verify", "float.json", "--property", "violated.vnnlib",
                                       "--json"};
  violated.insert(violated.end(), quantize.begin(), quantize.end());
  ProcessResult v = Qrepair(violated);
  ASSERT_EQ(v.exit_code, 9) << v.err << v.out;
  json ce = json::parse(v.out)["counterexample"];
  EXPECT_EQ(ce["logits"][0].get<int64_t>(), min_code);
  EXPECT_DOUBLE_EQ(ce["output"][0].get<double>(), largest_y0);
}

TEST_F(VerifyCliTest, AMalformedPropertyExits3WithLineAndColumn) {
  std::ofstream(Path("bad.vnnlib")) << "(declare-const X_0 Real)\n(assert (<= X_0 1e))\n";
  ProcessResult r = Qrepair({"verify", "model.json", "--property", "bad.vnnlib"});
  EXPECT_TRUE(r.exited && r.exit_code == 3) << r.Describe();
  EXPECT_NE(r.err.find("bad.vnnlib:2:17: malformed number '1e'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("^ near here"), std::string::npos) << r.err;
  // Wrong input count for the network: bad input naming the property.
  std::ofstream(Path("three.vnnlib"))
      << "(declare-const X_0 Real)(declare-const X_1 Real)(declare-const X_2 Real)"
         "(declare-const Y_0 Real)(assert (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1) "
         "(>= X_2 0) (<= X_2 1) (>= Y_0 0)))";
  ProcessResult three = Qrepair({"verify", "model.json", "--property", "three.vnnlib"});
  EXPECT_EQ(three.exit_code, 3) << three.err;
  EXPECT_NE(three.err.find("three.vnnlib"), std::string::npos) << three.err;
}

TEST_F(VerifyCliTest, UsageErrorsExit2) {
  EXPECT_EQ(Qrepair({"verify", "model.json"}).exit_code, 2);
  EXPECT_EQ(Qrepair({"verify", "model.json", "--property", "p.vnnlib", "--out-dir", "d"}).exit_code,
            2);
  EXPECT_EQ(
      Qrepair({"verify", "model.json", "--property", "p.vnnlib", "--config", "q.json"}).exit_code,
      2);
  EXPECT_EQ(Qrepair({"verify", "--instances", "l.csv"}).exit_code, 2);  // no --out-dir
  ProcessResult help = Qrepair({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("verify"), std::string::npos);
  ProcessResult verify_help = Qrepair({"verify", "--help"});
  EXPECT_EQ(verify_help.exit_code, 0);
  EXPECT_NE(verify_help.out.find("--instances"), std::string::npos);
  EXPECT_NE(verify_help.out.find("Millions of work units"), std::string::npos);
  // --work-limit counts millions (kWorkUnit): a count whose units overflow is a usage error.
  EXPECT_EQ(Qrepair({"verify", "model.json", "--property", "p.vnnlib", "--work-limit",
                     "18446744073709551"})
                .exit_code,
            2);
  EXPECT_EQ(Qrepair({"verify", "model.json", "--property", "p.vnnlib", "--leaf-work-limit",
                     "18446744073709551"})
                .exit_code,
            2);
}

// --leaf-work-limit reaches the engine: with one million Z3 units per leaf the proof still comes
// out (leaves that give up are split further), the same verdict as without it.
TEST_F(VerifyCliTest, ALeafWorkLimitKeepsTheVerdict) {
  std::ofstream(Path("holds.vnnlib")) << Property((max_code_ + 0.5) * scale_);
  ProcessResult r = Qrepair(
      {"verify", "model.json", "--property", "holds.vnnlib", "--json", "--leaf-work-limit", "1"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe() << "\n" << r.err << r.out;
  EXPECT_EQ(json::parse(r.out)["verdict"], "holds");
}

TEST_F(VerifyCliTest, AnInstanceListRunsEndToEnd) {
  std::ofstream(Path("holds.vnnlib")) << Property((max_code_ + 0.5) * scale_);
  std::ofstream(Path("violated.vnnlib")) << Property((max_code_ - 0.5) * scale_);
  std::ofstream(Path("list.csv")) << "model.json,holds.vnnlib,60\nmodel.json,violated.vnnlib,60\n";
  ProcessResult r = Qrepair({"verify", "--instances", "list.csv", "--out-dir", "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string results = Read(Path("out/results.csv"));
  EXPECT_NE(results.find("model.json,holds.vnnlib,holds,"), std::string::npos) << results;
  EXPECT_NE(results.find("model.json,violated.vnnlib,violated,"), std::string::npos) << results;
  EXPECT_TRUE(std::filesystem::exists(Path("out/counterexamples/model__violated.json")));
  EXPECT_NE(Read(Path("out/summary.md")).find("| violated | 1 |"), std::string::npos);
  ProcessResult again =
      Qrepair({"verify", "--instances", "list.csv", "--out-dir", "out", "--resume"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("(2 resumed)"), std::string::npos) << again.out;
}

// Repair until proved: the largest reachable Y_0 is unsafe; `repair --property` must end with a
// network where it holds, which `verify` and the enumeration of every input code confirm.
TEST_F(VerifyCliTest, RepairUntilProvedMakesAViolatedPropertyHold) {
  std::ofstream(Path("violated.vnnlib")) << Property((max_code_ - 0.5) * scale_);
  ProcessResult r = Qrepair({"repair", "model.json", "--data", "cal.csv", "--repair-range", "0:4",
                             "--init", "rtn", "--property", "violated.vnnlib", "--time-limit",
                             "120", "-o", "r.json", "--report", "rep.json"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.Describe() << "\n" << r.err << r.out;
  const json rep = json::parse(Read(Path("rep.json")));
  ASSERT_EQ(rep["properties"].size(), 1U);
  EXPECT_EQ(rep["properties"][0]["before"], "violated");
  EXPECT_EQ(rep["properties"][0]["after"], "holds");
  EXPECT_EQ(rep["status"], "proved");
  EXPECT_GE(rep["property_stage"]["counterexamples"].get<int64_t>(), 1);
  EXPECT_GE(rep["property_stage"]["neurons_repaired"].get<int64_t>(), 1);
  ProcessResult v = Qrepair({"verify", "r.json", "--property", "violated.vnnlib"});
  EXPECT_TRUE(v.exited && v.exit_code == 0) << v.Describe() << "\n" << v.err << v.out;
  // Every input code of the box through the repaired network: Y_0 stays below the bound.
  const QuantizedNetwork repaired = LoadModelJson(Path("r.json")).quantized;
  FloatBatch corners(2, 2);
  corners << -1, 1, -1, 1;
  const CodeBatch c = QuantizeInput(repaired, corners);
  int64_t largest = std::numeric_limits<int64_t>::min();
  for (int64_t a = c(0, 0); a <= c(0, 1); ++a) {
    for (int64_t b = c(1, 0); b <= c(1, 1); ++b) {
      CodeBatch x(2, 1);
      x << static_cast<int32_t>(a), static_cast<int32_t>(b);
      largest = std::max<int64_t>(largest, ForwardInteger(repaired, x)(0, 0));
    }
  }
  EXPECT_LT(largest, max_code_);
}

// A malformed property is bad input before any work: exit 3 naming the file, nothing written.
TEST_F(VerifyCliTest, RepairWithAMalformedPropertyWritesNothing) {
  std::ofstream(Path("bad.vnnlib")) << "(declare-const X_0 Real)\n(assert (>= X_0\n";
  ProcessResult r = Qrepair({"repair", "model.json", "--data", "cal.csv", "--repair-range", "0:4",
                             "--property", "bad.vnnlib", "-o", "r.json", "--report", "rep.json"});
  EXPECT_TRUE(r.exited && r.exit_code == 3) << r.Describe() << "\n" << r.err;
  EXPECT_NE(r.err.find("bad.vnnlib"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(Path("r.json")));
  EXPECT_FALSE(std::filesystem::exists(Path("rep.json")));
}

}  // namespace
}  // namespace qrepair
