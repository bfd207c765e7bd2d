// The instance runner of `qrepair verify --instances` with a fake verifier injected: the list,
// results.csv line by line, resume after an interrupted or killed run, shards, errors, summary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "qrepair/io/json_io.h"
#include "qrepair/quant/quantize.h"
#include "qrepair/verify/instances.h"
#include "qrepair/verify/verify_report.h"
#include "temp_dir.h"

namespace qrepair {
namespace {

using testing::TempDir;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A quantized 2-3-2 network in a qrepair JSON file; `seed` changes its weights.
void WriteTinyModel(const std::string& path, float seed) {
  Network n;
  n.name = "tiny";
  n.input_shape = Shape{2, 1, 1};
  Layer hidden;
  hidden.name = "hidden";
  hidden.weights = {1.0f, -0.5f, 0.25f * seed, 1.0f, -1.0f, 0.75f};
  hidden.bias = {0.1f, 0.0f, -0.2f};
  hidden.output_shape = Shape{3, 1, 1};
  Layer relu;
  relu.kind = LayerKind::kRelu;
  Layer out;
  out.name = "out";
  out.weights = {1.0f, -1.0f, 0.5f, -0.5f, 1.0f, 0.25f};
  out.bias = {0.0f, 0.1f};
  out.output_shape = Shape{2, 1, 1};
  n.layers = {hidden, relu, out};
  ValidateNetwork(n, "tiny");
  QuantConfig config = ParseQuantConfig(nlohmann::json::parse(R"({"weights": {"bits": 8}})"), "q");
  FloatBatch calibration(2, 3);
  calibration << -1, 0, 1, 1, 0.5, -1;
  ModelFile file;
  file.float_network = n;
  file.quantized = QuantizeNetwork(n, config, calibration, "tiny");
  file.has_quantized = true;
  std::ofstream(path) << ModelFileToJson(file).dump();
}

std::string Property(const std::string& comment) {
  return "; " + comment +
         "\n(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n"
         "(declare-const Y_1 Real)\n(assert (<= X_0 1))\n(assert (>= X_0 -1))\n"
         "(assert (<= X_1 1))\n(assert (>= X_1 -1))\n(assert (<= Y_0 Y_1))\n";
}

// The fake: the property's name decides (holds_*, violated_*, slow_* -> unknown by time).
struct FakeVerifier {
  std::vector<std::string> calls;  // "network|property"
  std::set<const QuantizedNetwork*> networks;
  std::atomic<bool>* stop = nullptr;
  size_t stop_at_call = 0;  // 1-based: that call sets the stop flag and returns unknown

  VerifyResult operator()(const QuantizedNetwork& network, const qrepair::Property& p,
                          const VerifyOptions& o) {
    calls.push_back(network.name + "|" + p.name);
    networks.insert(&network);
    VerifyResult r;
    if (stop && calls.size() == stop_at_call) {
      stop->store(true);
      r.reason = "interrupted";
      return r;
    }
    if (p.name.rfind("holds", 0) == 0) r.verdict = Verdict::kHolds;
    if (p.name.rfind("violated", 0) == 0) {
      r.verdict = Verdict::kViolated;
      r.counterexample = Counterexample{0, 0, {0.5, -0.25}, {3, -2}, {10, 12}, {1.0, 1.2}};
    }
    if (p.name.rfind("slow", 0) == 0)
      r.reason = "time limit " + std::to_string(o.time_limit_seconds);
    return r;
  }
};

class VerifyInstancesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.Path("nets"));
    std::filesystem::create_directories(dir_.Path("props"));
    WriteTinyModel(dir_.Path("nets/a.json"), 1);
    WriteTinyModel(dir_.Path("nets/b.json"), 2);
    for (const char* p : {"holds_1", "violated_1", "slow_1"}) {
      std::ofstream(dir_.Path(std::string("props/") + p + ".vnnlib")) << Property(p);
    }
    std::ofstream(dir_.Path("list.csv")) << "nets/a.json,props/holds_1.vnnlib,10\n"
                                            "nets/a.json,props/violated_1.vnnlib,10\n"
                                            "nets/b.json,props/holds_1.vnnlib,10\n"
                                            "\n"
                                            "nets/b.json,props/slow_1.vnnlib,2.5\n"
                                            "nets/a.json,props/slow_1.vnnlib,116\n"
                                            "nets/b.json,props/violated_1.vnnlib,10\n";
    options_.out_dir = dir_.Path("out");
  }
  InstancesRun Run(FakeVerifier& fake) {
    return RunInstances(dir_.Path("list.csv"), options_,
                        [&](const QuantizedNetwork& n, const qrepair::Property& p,
                            const VerifyOptions& o) { return fake(n, p, o); });
  }
  TempDir dir_{"verify_instances"};
  InstancesOptions options_;
};

TEST_F(VerifyInstancesTest, RunsEveryInstanceWritesResultsCounterexamplesAndSummary) {
  FakeVerifier fake;
  InstancesRun run = Run(fake);
  EXPECT_EQ(run.instances, 6);
  EXPECT_EQ(run.run, 6);
  EXPECT_FALSE(run.interrupted);
  EXPECT_EQ(InstancesExitCode(run), ExitCode::kSuccess);
  EXPECT_EQ(fake.networks.size(), 2u);  // each network opened once, shared by its instances
  std::vector<std::string> lines = Lines(Read(dir_.Path("out/results.csv")));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0], "network,property,verdict,seconds,reason,key");
  const char* expected[] = {"holds", "violated", "holds", "timeout", "timeout", "violated"};
  for (int i = 0; i < 6; ++i) {
    EXPECT_NE(lines[i + 1].find(std::string(",") + expected[i] + ","), std::string::npos)
        << lines[i + 1];
    EXPECT_EQ(run.results[i].verdict, expected[i]);
  }
  EXPECT_EQ(lines[1].rfind("nets/a.json,props/holds_1.vnnlib,holds,", 0), 0u);
  // The list's timeout reaches the verifier (2.5 s for b/slow_1, 116 s for a/slow_1).
  EXPECT_EQ(run.results[3].reason, "time limit 2.500000");
  EXPECT_EQ(run.results[4].reason, "time limit 116.000000");
  nlohmann::json ce =
      nlohmann::json::parse(Read(dir_.Path("out/counterexamples/a__violated_1.json")));
  EXPECT_EQ(ce["verdict"], "violated");
  EXPECT_EQ(ce["counterexample"]["codes"], nlohmann::json({3, -2}));
  EXPECT_TRUE(std::filesystem::exists(dir_.Path("out/counterexamples/b__violated_1.json")));
  std::string md = Read(dir_.Path("out/summary.md"));
  EXPECT_NE(md.find("| holds | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| violated | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| timeout | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 6 | nets/b.json | props/violated_1.vnnlib | violated |"), std::string::npos)
      << md;
}

// --jobs 2: the instances run in child processes; the results, the counterexample files and the
// summary are those of the sequential run (results.csv has the same lines, in completion order).
TEST_F(VerifyInstancesTest, TwoJobsGiveTheSequentialResults) {
  FakeVerifier sequential_fake;
  const InstancesRun sequential = Run(sequential_fake);
  const std::string sequential_md = Read(dir_.Path("out/summary.md"));
  std::vector<std::string> sequential_lines = Lines(Read(dir_.Path("out/results.csv")));
  std::filesystem::remove_all(dir_.Path("out"));
  options_.verify.jobs = 2;
  FakeVerifier fake;
  const InstancesRun parallel = Run(fake);
  EXPECT_TRUE(fake.calls.empty()) << "the verifier ran in the children, not here";
  ASSERT_EQ(parallel.results.size(), sequential.results.size());
  EXPECT_EQ(parallel.run, 6);
  for (size_t i = 0; i < parallel.results.size(); ++i) {
    EXPECT_EQ(parallel.results[i].network, sequential.results[i].network);
    EXPECT_EQ(parallel.results[i].property, sequential.results[i].property);
    EXPECT_EQ(parallel.results[i].verdict, sequential.results[i].verdict);
    EXPECT_EQ(parallel.results[i].reason, sequential.results[i].reason);
  }
  std::vector<std::string> lines = Lines(Read(dir_.Path("out/results.csv")));
  ASSERT_EQ(lines.size(), sequential_lines.size());
  // Seconds differ; the rest of each line (network, property, verdict, reason, key) does not.
  auto without_seconds = [](std::vector<std::string> v) {
    for (std::string& l : v) {
      std::vector<std::string> f;
      std::stringstream row(l);
      std::string cell;
      while (std::getline(row, cell, ',')) f.push_back(cell);
      if (f.size() > 3) f[3] = "";
      l.clear();
      for (const std::string& c : f) l += c + ",";
    }
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(without_seconds(lines), without_seconds(sequential_lines));
  EXPECT_TRUE(std::filesystem::exists(dir_.Path("out/counterexamples/a__violated_1.json")));
  EXPECT_TRUE(std::filesystem::exists(dir_.Path("out/counterexamples/b__violated_1.json")));
  const std::string md = Read(dir_.Path("out/summary.md"));
  EXPECT_NE(md.find("| 6 | nets/b.json | props/violated_1.vnnlib | violated |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| timeout | 2 |"), std::string::npos) << md;
  // --resume with jobs: nothing left to run.
  options_.resume = true;
  FakeVerifier again;
  const InstancesRun resumed = Run(again);
  EXPECT_EQ(resumed.resumed, 6);
  EXPECT_EQ(resumed.run, 0);
}

TEST_F(VerifyInstancesTest, ResumeRunsOnlyWhatIsMissingStaleOrFailed) {
  std::atomic<bool> stop{false};
  FakeVerifier first;
  first.stop = &stop;
  first.stop_at_call = 4;
  options_.verify.stop = &stop;
  InstancesRun interrupted = Run(first);
  EXPECT_TRUE(interrupted.interrupted);
  EXPECT_EQ(InstancesExitCode(interrupted), ExitCode::kInterrupted);
  EXPECT_EQ(Lines(Read(dir_.Path("out/results.csv"))).size(), 4u);  // header + 3 finished
  EXPECT_NE(Read(dir_.Path("out/summary.md")).find("interrupted"), std::string::npos);

  // A kill in the middle of an append leaves a line without its newline: it is not trusted.
  std::ofstream(dir_.Path("out/results.csv"), std::ios::app) << "nets/b.json,props/slow_1.vn";
  stop = false;
  options_.resume = true;
  FakeVerifier second;
  InstancesRun resumed = Run(second);
  EXPECT_FALSE(resumed.interrupted);
  EXPECT_EQ(resumed.resumed, 3);
  EXPECT_EQ(resumed.run, 3);
  EXPECT_EQ(second.calls,
            (std::vector<std::string>{"tiny|slow_1", "tiny|slow_1", "tiny|violated_1"}));
  EXPECT_EQ(Lines(Read(dir_.Path("out/results.csv"))).size(), 7u);
  EXPECT_NE(Read(dir_.Path("out/summary.md")).find("holds (resumed)"), std::string::npos);

  // A changed property file changes its instances' keys: only those run again.
  std::ofstream(dir_.Path("props/holds_1.vnnlib")) << Property("edited");
  FakeVerifier third;
  InstancesRun after_edit = Run(third);
  EXPECT_EQ(third.calls.size(), 2u);
  EXPECT_EQ(after_edit.resumed, 4);
  EXPECT_EQ(Lines(Read(dir_.Path("out/results.csv"))).size(), 7u);  // stale lines replaced

  // Lines of another list (or of paths written differently) are dropped, not counted.
  std::ofstream(dir_.Path("out/results.csv"), std::ios::app)
      << "other.json,props/holds_1.vnnlib,holds,1.000,,abc\n";
  FakeVerifier fifth;
  InstancesRun other = Run(fifth);
  EXPECT_EQ(fifth.calls.size(), 0u);
  EXPECT_EQ(other.resumed, 6);
  EXPECT_EQ(Read(dir_.Path("out/results.csv")).find("other.json"), std::string::npos);

  // Without --resume everything runs again.
  options_.resume = false;
  FakeVerifier fourth;
  Run(fourth);
  EXPECT_EQ(fourth.calls.size(), 6u);
}

TEST_F(VerifyInstancesTest, ShardsSplitByIndexModuloCount) {
  std::vector<std::string> all;
  for (int i = 1; i <= 4; ++i) {
    options_.shard = ParseShard(std::to_string(i) + "/4");
    options_.out_dir = dir_.Path("out" + std::to_string(i));
    FakeVerifier fake;
    InstancesRun run = Run(fake);
    EXPECT_EQ(run.instances, i <= 2 ? 2 : 1);  // 6 instances: indices 0,4 | 1,5 | 2 | 3
    for (const InstanceResult& r : run.results) all.push_back(r.network + " " + r.property);
  }
  std::vector<std::string> expected;
  for (const VerifyInstance& i : ReadInstanceList(dir_.Path("list.csv"))) {
    expected.push_back(i.network + " " + i.property);
  }
  std::sort(all.begin(), all.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(all, expected);
}

TEST_F(VerifyInstancesTest, ABadInstanceIsAnErrorLineAndTheRunGoesOn) {
  std::ofstream(dir_.Path("props/holds_1.vnnlib"))
      << "(declare-const X_0 Real)\n(assert (<= X_0 1)";
  std::ofstream(dir_.Path("list.csv"), std::ios::app)
      << "nets/missing.json,props/violated_1.vnnlib,5\n";
  FakeVerifier fake;
  InstancesRun run = Run(fake);
  EXPECT_EQ(run.errors, 3);
  EXPECT_EQ(InstancesExitCode(run), ExitCode::kBatchPartial);
  EXPECT_EQ(run.results[0].verdict, "error");
  EXPECT_NE(run.results[0].reason.find("holds_1.vnnlib:2:1: this '(' is never closed"),
            std::string::npos)
      << run.results[0].reason;
  EXPECT_EQ(run.results[6].verdict, "error");
  EXPECT_NE(run.results[6].reason.find("missing.json"), std::string::npos);
  EXPECT_EQ(run.results[1].verdict, "violated");
  // Errors are never resumed.
  options_.resume = true;
  FakeVerifier again;
  Run(again);
  EXPECT_EQ(again.calls.size(), 0u);  // the two bad properties and the missing model fail again
  EXPECT_EQ(Lines(Read(dir_.Path("out/results.csv"))).size(), 8u);
}

TEST(VerifyInstanceListTest, MalformedListsNameTheLine) {
  TempDir dir("verify_list");
  auto refused = [&](const std::string& text, const std::string& message) {
    std::ofstream(dir.Path("l.csv")) << text;
    try {
      ReadInstanceList(dir.Path("l.csv"));
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kBadInput);
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  refused("a.onnx,p.vnnlib,10\nb.onnx,p.vnnlib\n", "l.csv: line 2: expected onnx,vnnlib,timeout");
  refused("a.onnx,p.vnnlib,10\nb.onnx,p.vnnlib,soon\n", "line 2: expected a timeout in seconds");
  refused("a.onnx,p.vnnlib,-1\n", "line 1: expected a timeout > 0");
  refused("onnx,vnnlib,timeout\n", "no instances");
  std::ofstream(dir.Path("l.csv")) << "onnx,vnnlib,timeout\r\n/abs/a.onnx, p.vnnlib ,116\r\n";
  std::vector<VerifyInstance> list = ReadInstanceList(dir.Path("l.csv"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].network_path, "/abs/a.onnx");
  EXPECT_EQ(list[0].property_path, dir.Path("p.vnnlib"));
  EXPECT_EQ(list[0].timeout_seconds, 116);
}

TEST(VerifyReportTest, JsonFieldsAndResultWords) {
  VerifyResult r;
  r.verdict = Verdict::kUnknown;
  r.reason = "time limit reached";
  r.stats.proved_fraction = 0.25;
  qrepair::Property p;
  p.source = "p.vnnlib";
  nlohmann::json j = VerifyReportJson(r, p, "m.json");
  EXPECT_EQ(j["verdict"], "unknown");
  EXPECT_EQ(j["reason"], "time limit reached");
  EXPECT_TRUE(j["counterexample"].is_null());
  EXPECT_EQ(j["stats"]["proved_fraction"], 0.25);
  EXPECT_EQ(j["property"], "p.vnnlib");
  EXPECT_EQ(j["model"], "m.json");
  EXPECT_EQ(ResultWord(r), "timeout");
  r.reason = "work limit reached";
  EXPECT_EQ(ResultWord(r), "unknown");
  r.verdict = Verdict::kViolated;
  r.counterexample = Counterexample{1, 2, {0.5}, {7}, {-3, 4}, {-0.75, 1}};
  j = VerifyReportJson(r, p, "m.json");
  EXPECT_EQ(j["verdict"], "violated");
  EXPECT_FALSE(j.contains("reason"));
  EXPECT_EQ(j["counterexample"]["input"], nlohmann::json({0.5}));
  EXPECT_EQ(j["counterexample"]["logits"], nlohmann::json({-3, 4}));
  EXPECT_EQ(j["counterexample"]["region"], 1);
  EXPECT_EQ(ResultWord(r), "violated");
}

}  // namespace
}  // namespace qrepair
