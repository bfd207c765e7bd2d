// Every file of the malformed-input corpus (scripts/make_malformed_corpus.py) goes through the
// real CLI: it must be refused with exit code 3 (bad input), no signal, no hang, and a message
// that names the file. With QREPAIR_CORPUS_RESULTS=PATH the per-case outcomes are also written
// to PATH as JSON, which scripts/reliability_table.sh turns into the README's table.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "process_runner.h"

namespace qrepair {
namespace {

using nlohmann::json;
using testing::ProcessResult;
using testing::RunProcess;
using testing::TempDir;

constexpr double kTimeoutSeconds = 20;
constexpr int kBadInput = 3;

std::vector<std::string> Command(const json& argv) {
  std::vector<std::string> command = {QREPAIR_BINARY};
  for (const json& a : argv) command.push_back(a.get<std::string>());
  return command;
}

std::string Joined(const json& argv) {
  std::string text = "qrepair";
  for (const json& a : argv) text += " " + a.get<std::string>();
  return text;
}

// The batch subcommand is written separately; its cases wait until the binary has it.
bool HasBatchCommand() {
  ProcessResult r = RunProcess({QREPAIR_BINARY, "batch", "--help"}, "", kTimeoutSeconds);
  return r.exited && r.exit_code == 0 && r.out.find("--out-dir") != std::string::npos;
}

struct Tally {
  int tried = 0, crashes = 0, wrong_exit = 0, unnamed = 0, wrong_message = 0, skipped = 0;
};

json Generate(const std::string& dir) {
  ProcessResult gen = RunProcess(
      {"/usr/bin/python3", QREPAIR_SOURCE_DIR "/scripts/make_malformed_corpus.py", dir}, "", 120);
  EXPECT_TRUE(gen.exited && gen.exit_code == 0)
      << "make_malformed_corpus.py: " << gen.Describe() << "\n"
      << gen.err;
  std::ifstream in(dir + "/manifest.json");
  if (!in) return json();
  return json::parse(in);
}

TEST(MalformedCorpusTest, EveryMalformedFileIsRefusedWithExitCode3NamingTheFile) {
  TempDir dir("qrepair-corpus-");
  const json manifest = Generate(dir.path());
  ASSERT_TRUE(manifest.is_object()) << "no manifest.json in " << dir.path();
  ASSERT_GE(manifest["cases"].size(), 150u);
  const bool has_batch = HasBatchCommand();

  // The valid companions alone must pass: a case then fails for its own defect.
  for (const json& control : manifest["controls"]) {
    if (control.value("requires", "") == "batch" && !has_batch) continue;
    ProcessResult r = RunProcess(Command(control["argv"]), dir.path(), 60);
    EXPECT_TRUE(r.exited && r.exit_code == 0)
        << "control `" << Joined(control["argv"]) << "`: " << r.Describe() << "\n"
        << r.err;
  }

  std::map<std::string, Tally> tallies;
  json results = json::array();
  for (const json& c : manifest["cases"]) {
    const std::string file = c["file"], format = c["format"];
    Tally& t = tallies[format];
    if (c.value("requires", "") == "batch" && !has_batch) {
      ++t.skipped;
      results.push_back({{"file", file}, {"format", format}, {"outcome", "skipped"}});
      continue;
    }
    ProcessResult r = RunProcess(Command(c["argv"]), dir.path(), kTimeoutSeconds);
    const bool crashed = !r.exited;  // a signal, or killed at the deadline (a hang)
    const bool wrong_exit = !crashed && r.exit_code != c["expect_exit"].get<int>();
    const bool unnamed = r.err.find(file) == std::string::npos;
    const std::string expect = c["expect_message"];
    const bool wrong_message = r.err.find(expect) == std::string::npos;
    ++t.tried;
    t.crashes += crashed;
    t.wrong_exit += wrong_exit;
    t.unnamed += unnamed;
    t.wrong_message += wrong_message;
    results.push_back({{"file", file},
                       {"format", format},
                       {"outcome", r.Describe()},
                       {"crashed", crashed},
                       {"wrong_exit", wrong_exit},
                       {"names_file", !unnamed},
                       {"message_matches", !wrong_message},
                       {"seconds", r.seconds}});
    const std::string context = "`" + Joined(c["argv"]) + "` (" + c["problem"].get<std::string>() +
                                "): " + r.Describe() + "\nstderr: " + r.err;
    EXPECT_FALSE(crashed) << context;
    EXPECT_FALSE(wrong_exit) << context;
    EXPECT_FALSE(unnamed) << "the message does not name " << file << ": " << context;
    EXPECT_FALSE(wrong_message) << "expected \"" << expect << "\" in the message: " << context;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << context;
  }
  // Refusing means writing nothing: the commands that take -o name out/never.json.
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/out/never.json"));

  std::cout << "| format | tried | skipped | crashes | wrong exit code | file not named |\n";
  for (const auto& [format, t] : tallies) {
    std::cout << "| " << format << " | " << t.tried << " | " << t.skipped << " | " << t.crashes
              << " | " << t.wrong_exit << " | " << t.unnamed << " |\n";
  }
  if (const char* out = std::getenv("QREPAIR_CORPUS_RESULTS"); out != nullptr && *out != '\0') {
    std::ofstream(out) << json{{"has_batch", has_batch}, {"cases", results}}.dump(1) << "\n";
  }
}

}  // namespace
}  // namespace qrepair
