// Real batches through the CLI on the bundled tiny models and Fashion-MNIST: a failing job is
// recorded and the rest complete, shards merge to the unsharded summary, --resume redoes nothing
// it can trust, and the gates set the exit code. Skipped when the data set is not installed.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "qrepair/batch/batch_manifest.h"

namespace qrepair {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const char* kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

struct CliRun {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class BatchE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kImages) || !fs::exists(kLabels))
      GTEST_SKIP() << kImages << " is absent (dataset-fashion-mnist)";
    std::string pattern = ::testing::TempDir() + "/qrepair_batch_e2e_XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    dir_ = mkdtemp(buf.data());
    // 4-bit per-tensor weights, 8-bit activations: enough damage for the repair to have work.
    Write("q.json",
          R"({"weights": {"bits": 4, "granularity": "per-tensor"}, "activations": {"bits": 8}})");
    // From round-to-nearest, the qnnrepair strategy with the pseudo-Boolean encoding finishes
    // these in about a second, every solver check (~0.2 s) far inside its 2 s limit even on a
    // loaded machine, so results do not depend on timing and runs can be compared. (With the lia
    // encoding a check on tiny_cnn times out and the result varies from run to run.)
    json defaults = {{"config", "q.json"},      {"data", kImages},
                     {"labels", kLabels},       {"input_scale", 0.00392156862745098},
                     {"repair_range", "0:300"}, {"holdout_range", "300:600"},
                     {"time_limit", 60},        {"encoding", "pb"},
                     {"strategy", "qnnrepair"}, {"init", "rtn"}};
    json jobs = {{{"name", "mlp"}, {"model", QREPAIR_SOURCE_DIR "/models/tiny_mlp.onnx"}},
                 {{"name", "cnn"}, {"model", QREPAIR_SOURCE_DIR "/models/tiny_cnn.onnx"}},
                 {{"name", "missing"}, {"model", "no_such_model.onnx"}}};
    Write("zoo.json", json({{"defaults", defaults}, {"jobs", jobs}}).dump(2));
    Write("one.json", json({{"defaults", defaults}, {"jobs", {jobs[0]}}}).dump(2));
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ + "/" + name) << bytes;
  }

  CliRun Qrepair(const std::string& args) {
    CliRun r;
    std::string err_file = dir_ + "/stderr.txt";
    std::string cmd = "cd '" + dir_ + "' && '" QREPAIR_BINARY "' " + args + " 2>'" + err_file + "'";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = Slurp(err_file);
    return r;
  }

  json Summary(const std::string& out_dir) {
    return json::parse(Slurp(dir_ + "/" + out_dir + "/summary.json"));
  }
  json BatchMeta(const std::string& out_dir) {
    return json::parse(Slurp(dir_ + "/" + out_dir + "/batch.json"));
  }

  // Timings and the resume flag aside, two summaries must be equal.
  static json WithoutTimings(json summary) {
    for (json& e : summary) {
      e.erase("seconds");
      e.erase("resumed");
    }
    return summary;
  }

  // Every file under a job folder with its modification time and bytes.
  std::map<std::string, std::pair<fs::file_time_type, std::string>> Files(
      const std::string& out_dir) {
    std::map<std::string, std::pair<fs::file_time_type, std::string>> files;
    for (const auto& e : fs::recursive_directory_iterator(dir_ + "/" + out_dir)) {
      if (e.is_regular_file() && e.path().parent_path() != dir_ + "/" + out_dir) {
        files[e.path().string()] = {fs::last_write_time(e.path()), Slurp(e.path().string())};
      }
    }
    return files;
  }

  std::string dir_;
};

TEST_F(BatchE2eTest, AFailingJobIsRecordedAndTheOthersComplete) {
  CliRun r = Qrepair("batch zoo.json --out-dir full -j 2 --json");
  EXPECT_EQ(r.code, 7) << r.err;             // kBatchPartial: one job could not run
  json stdout_summary = json::parse(r.out);  // --json: nothing but JSON on stdout
  json summary = Summary("full");
  EXPECT_EQ(stdout_summary, summary);
  ASSERT_EQ(summary.size(), 3u);
  EXPECT_EQ(summary[0]["name"], "cnn");
  EXPECT_EQ(summary[1]["name"], "missing");
  EXPECT_EQ(summary[1]["status"], "bad_input");
  EXPECT_EQ(summary[1]["exit_code"], 3);
  EXPECT_NE(summary[1]["message"].get<std::string>().find("no_such_model.onnx"), std::string::npos);
  EXPECT_TRUE(summary[1]["after"].is_null());
  for (int i : {0, 2}) {
    EXPECT_EQ(summary[i]["status"], "repaired") << summary[i].dump(2);
    EXPECT_TRUE(summary[i]["before"]["holdout"]["agreement"].is_number());
    EXPECT_TRUE(summary[i]["after"]["holdout"]["accuracy"].is_number());
    std::string job = dir_ + "/full/" + summary[i]["name"].get<std::string>();
    for (const char* f : {"repaired.json", "report.json", "report.md", "job.json"}) {
      EXPECT_TRUE(fs::exists(job + "/" + f)) << job << "/" << f;
    }
    json record = json::parse(Slurp(job + "/job.json"));
    EXPECT_TRUE(record["finished"].get<bool>());
    EXPECT_EQ(record["entry"]["status"], "repaired");
  }
  std::string csv = Slurp(dir_ + "/full/summary.csv");
  EXPECT_EQ(csv.rfind("name,status,", 0), 0u) << csv;
  EXPECT_NE(csv.find("\nmissing,bad_input,3,"), std::string::npos) << csv;
  for (const auto& e : fs::recursive_directory_iterator(dir_ + "/full")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos)
        << "left behind: " << e.path();
  }
  // The Markdown table when --json is not given.
  r = Qrepair("batch zoo.json --out-dir full --resume");
  EXPECT_NE(r.out.find("| cnn | repaired (resumed) |"), std::string::npos) << r.out;
}

TEST_F(BatchE2eTest, ShardsMergeToTheUnshardedSummary) {
  ASSERT_EQ(Qrepair("batch zoo.json --out-dir full -j 2").code, 7);
  ASSERT_EQ(Qrepair("batch zoo.json --out-dir s1 --shard 1/2 -j 1").code, 0);  // cnn, mlp
  CliRun r = Qrepair("batch zoo.json --out-dir s2 --shard 2/2 -j 1");          // missing
  ASSERT_EQ(r.code, 7) << r.err;
  EXPECT_EQ(Summary("s1").size(), 2u);
  EXPECT_EQ(Summary("s2").size(), 1u);
  r = Qrepair("batch-merge s2 s1 --out-dir merged");
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_EQ(WithoutTimings(Summary("merged")), WithoutTimings(Summary("full")));
  EXPECT_EQ(BatchMeta("merged")["jobs_run"], 2);
  // A shard given twice, or a shard missing, is refused.
  EXPECT_EQ(Qrepair("batch-merge s1 s1 s2 --out-dir bad").code, 3);
  r = Qrepair("batch-merge s1 --out-dir bad");
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("job 'missing' of the manifest is in none"), std::string::npos) << r.err;
}

TEST_F(BatchE2eTest, ResumeRedoesNothingItCanTrust) {
  ASSERT_EQ(Qrepair("batch zoo.json --out-dir out -j 2").code, 7);
  auto before = Files("out");
  CliRun r = Qrepair("batch zoo.json --out-dir out -j 2 --resume");
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_EQ(BatchMeta("out")["jobs_run"], 0);
  EXPECT_EQ(BatchMeta("out")["jobs_resumed"], 2);
  auto after = Files("out");
  for (const auto& [path, file] : before) {
    if (path.find("/missing/") != std::string::npos) continue;  // a failed job is tried again
    ASSERT_TRUE(after.count(path)) << path;
    EXPECT_TRUE(after[path] == file) << path << " was rewritten";
  }
  EXPECT_TRUE(Summary("out")[0]["resumed"].get<bool>());

  // An output that no longer has the recorded bytes makes its job run again, and only it.
  std::ofstream(dir_ + "/out/mlp/repaired.json", std::ios::app) << " ";
  r = Qrepair("batch zoo.json --out-dir out -j 2 --resume");
  EXPECT_EQ(BatchMeta("out")["jobs_run"], 1) << r.err;
  EXPECT_TRUE(Files("out")[dir_ + "/out/cnn/report.json"] == before[dir_ + "/out/cnn/report.json"]);
  EXPECT_FALSE(Summary("out")[2]["resumed"].get<bool>());
  EXPECT_EQ(Summary("out")[2]["status"], "repaired");

  // Other options make another key: the job runs again.
  json zoo = json::parse(Slurp(dir_ + "/zoo.json"));
  zoo["jobs"][1]["max_delta"] = 3;
  Write("zoo.json", zoo.dump());
  Qrepair("batch zoo.json --out-dir out -j 2 --resume");
  EXPECT_EQ(BatchMeta("out")["jobs_run"], 1);
  EXPECT_FALSE(Summary("out")[0]["resumed"].get<bool>());  // cnn
}

TEST_F(BatchE2eTest, SigintStopsTheBatchAndResumeFinishesIt) {
  json zoo = json::parse(Slurp(dir_ + "/zoo.json"));
  zoo["defaults"]["strategy"] =
      "default";  // searches until its time limit: still running at the signal
  zoo["defaults"]["time_limit"] = 5;
  zoo["defaults"]["call_time_limit"] = 2;
  Write("long.json", zoo.dump());
  std::string log = dir_ + "/sigint.txt";
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir_.c_str()) != 0 || !freopen(log.c_str(), "w", stdout) ||
        !freopen(log.c_str(), "a", stderr)) {
      _exit(99);
    }
    execl(QREPAIR_BINARY, QREPAIR_BINARY, "batch", "long.json", "--out-dir", "stopped", "-j", "1",
          static_cast<char*>(nullptr));
    _exit(98);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << Slurp(log);
  EXPECT_EQ(WEXITSTATUS(status), 130) << Slurp(log);
  for (const json& e : Summary("stopped")) {
    if (e["name"] == "missing") continue;
    EXPECT_TRUE(e["status"] == "interrupted" || e["status"] == "not_run") << e.dump();
  }
  CliRun r = Qrepair("batch long.json --out-dir stopped -j 2 --resume");
  EXPECT_EQ(r.code, 7) << r.err;  // only the missing model is left
  EXPECT_EQ(BatchMeta("stopped")["jobs_run"], 2);
  for (const json& e : Summary("stopped")) {
    if (e["name"] != "missing") EXPECT_TRUE(e["after"].is_object()) << e.dump();
  }
}

TEST_F(BatchE2eTest, GatesSetTheExitCode) {
  CliRun r = Qrepair("batch one.json --out-dir g --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json after = Summary("g")[0]["after"]["holdout"];
  double acc = 100 * after["accuracy"].get<double>();
  double drop = 100 * after["float_accuracy"].get<double>() - acc;
  auto gate = [&](const std::string& flags) {
    return Qrepair("batch one.json --out-dir g --resume " + flags).code;
  };
  EXPECT_EQ(gate("--fail-under " + std::to_string(acc - 0.5)), 0);
  EXPECT_EQ(gate("--fail-under " + std::to_string(acc + 0.5)), 6);
  EXPECT_EQ(gate("--fail-if-drop " + std::to_string(drop + 0.5)), 0);
  EXPECT_EQ(gate("--fail-if-drop " + std::to_string(std::max(0.0, drop - 0.5))),
            drop > 1e-6 ? 6 : 0);
  EXPECT_EQ(gate("--fail-under 0.9"), 2);    // percent, not a fraction: refused as a likely mistake
  EXPECT_EQ(BatchMeta("g")["jobs_run"], 0);  // the gates re-read, they never re-ran
}

TEST_F(BatchE2eTest, AFolderOfModelsSharesTheFlags) {
  fs::create_directories(dir_ + "/zoo");
  fs::copy_file(QREPAIR_SOURCE_DIR "/models/tiny_mlp.onnx", dir_ + "/zoo/tiny_mlp.onnx");
  fs::copy_file(dir_ + "/q.json", dir_ + "/zoo/q.json");  // next to the models: not a job
  CliRun r = Qrepair(
      std::string("batch zoo --config zoo/q.json --data ") + kImages + " --labels " + kLabels +
      " --input-scale 0.00392156862745098 --repair-range 0:300 --holdout-range "
      "300:600 --time-limit 60 --init rtn --encoding pb --strategy qnnrepair --out-dir folder");
  EXPECT_EQ(r.code, 0) << r.err;
  json summary = Summary("folder");
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_EQ(summary[0]["name"], "tiny_mlp");
  EXPECT_EQ(summary[0]["status"], "repaired");
  json report = json::parse(Slurp(dir_ + "/folder/tiny_mlp/report.json"));
  EXPECT_EQ(report["options"]["strategy"], "qnnrepair");
  EXPECT_EQ(report["options"]["holdout_range"], "300:600");
}

TEST_F(BatchE2eTest, ManifestErrorsAreBadInputNamingTheKey) {
  json zoo = json::parse(Slurp(dir_ + "/zoo.json"));
  zoo["jobs"][0]["neurns"] = 3;
  Write("bad.json", zoo.dump());
  CliRun r = Qrepair("batch bad.json --out-dir x");
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("bad.json: $.jobs[0].neurns: unknown key 'neurns'; did you mean 'neurons'?"),
            std::string::npos)
      << r.err;
  r = Qrepair("batch zoo.json --out-dir x --time-limit 5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--time-limit applies to a folder of models"), std::string::npos) << r.err;
}

// Every `qrepair repair` flag is a manifest option, and an option a manifest leaves out gets the
// repair command's default (what `repair --help` shows), echoed in the job's report.
TEST_F(BatchE2eTest, JobOptionsAreTheRepairCommandsWithItsDefaults) {
  CliRun help = Qrepair("repair --help");
  // Not per-job options: the batch decides outputs, processes (--jobs) and the forward passes'
  // compute threads (--threads: a process setting, not a job option; batch jobs use the default).
  const std::set<std::string> not_job = {"help",  "output",   "report", "report_md",
                                         "onnx",  "c_header", "prefix", "report_svg",
                                         "force", "json",     "jobs",   "threads"};
  std::set<std::string> specs;
  for (const JobOptionSpec& s : JobOptionSpecs()) specs.insert(s.key);
  std::map<std::string, std::string> shown;  // key -> default as the help shows it
  std::regex flag_line(R"(^\s+(?:-\w,)?--([a-z0-9-]+)(.*)$)");
  std::istringstream lines(help.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, flag_line)) continue;
    std::string key = m[1];
    std::replace(key.begin(), key.end(), '-', '_');
    if (not_job.count(key)) continue;
    EXPECT_TRUE(specs.count(key)) << "repair flag --" << m[1] << " is not a manifest option";
    std::string type = m[2];
    type = type.substr(0, type.find("  "));  // "INT:INT in [1 - 32768]=2", then the help text
    auto eq = type.rfind('=');
    if (eq == std::string::npos) continue;  // no default shown
    std::string value = type.substr(eq + 1);
    shown[key] = value.substr(0, value.find(' '));  // a long default leaves one space
  }
  ASSERT_GT(shown.size(), 10u) << help.out;

  ASSERT_EQ(Qrepair("batch one.json --out-dir defaults").code, 0);
  json echoed = json::parse(Slurp(dir_ + "/defaults/mlp/report.json"))["options"];
  json manifest = json::parse(Slurp(dir_ + "/one.json"))["defaults"];
  for (const auto& [key, value] : shown) {
    if (manifest.contains(key)) continue;
    ASSERT_TRUE(echoed.contains(key)) << key;
    if (echoed[key].is_number()) {
      EXPECT_DOUBLE_EQ(echoed[key].get<double>(), std::stod(value)) << key;
    } else {
      EXPECT_EQ(echoed[key], json(value)) << key;
    }
  }
}

// The other direction: every manifest option is a flag of `qrepair repair` and a job flag of
// `qrepair batch`, both spelled "--" + key with '-' for '_', so the three cannot drift apart.
TEST_F(BatchE2eTest, EveryManifestOptionIsARepairFlagAndABatchFlag) {
  const CliRun repair = Qrepair("repair --help");
  const CliRun batch = Qrepair("batch --help");
  ASSERT_EQ(repair.code, 0);
  ASSERT_EQ(batch.code, 0);
  std::regex flag_line(R"(^\s+(?:-\w,)?--([a-z0-9-]+))");
  auto flags = [&](const std::string& help) {
    std::set<std::string> out;
    std::istringstream lines(help);
    std::string line;
    while (std::getline(lines, line)) {
      std::smatch m;
      if (std::regex_search(line, m, flag_line)) out.insert(m[1]);
    }
    return out;
  };
  const std::set<std::string> repair_flags = flags(repair.out), batch_flags = flags(batch.out);
  for (const JobOptionSpec& s : JobOptionSpecs()) {
    std::string flag = s.key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    EXPECT_TRUE(repair_flags.count(flag)) << "manifest option " << s.key << " has no repair flag";
    EXPECT_TRUE(batch_flags.count(flag)) << "manifest option " << s.key << " has no batch flag";
  }
}

}  // namespace
}  // namespace qrepair
