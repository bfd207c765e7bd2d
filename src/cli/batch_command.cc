// `qrepair batch` (many repair jobs from a manifest or a folder of models) and
// `qrepair batch-merge` (join shards' summaries).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "job_flags.h"
#include "qrepair/batch/batch.h"
#include "qrepair/batch/batch_merge.h"

namespace qrepair::cli {

namespace {

struct GateFlags {
  double fail_under = -1;
  double fail_if_drop = -1;
  bool json = false;
};

void AddGateFlags(CLI::App* cmd, GateFlags& g) {
  cmd->add_option(
         "--fail-under", g.fail_under,
         "Exit 6 when a job's repaired holdout accuracy is below this, in percent (e.g. 97.5)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option(
         "--fail-if-drop", g.fail_if_drop,
         "Exit 6 when float minus repaired holdout accuracy exceeds this many percentage points")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_flag("--json", g.json, "Print only the summary JSON on stdout (logs stay on stderr)");
}

BatchGate ToGate(const GateFlags& g) {
  if (g.fail_under > 0 && g.fail_under < 1) {
    throw Error(ExitCode::kUsage, "--fail-under takes percent, got " +
                                      std::to_string(g.fail_under) + "; did you mean " +
                                      std::to_string(100 * g.fail_under) + "?");
  }
  BatchGate gate;
  if (g.fail_under >= 0) gate.fail_under_percent = g.fail_under;
  if (g.fail_if_drop >= 0) gate.fail_if_drop_pp = g.fail_if_drop;
  return gate;
}

// stdout: the table (or JSON); stderr: the outcome counts and gate failures. Returns the code.
ExitCode Finish(const std::vector<BatchEntry>& entries, const std::string& out_dir,
                const BatchGate& gate, bool json, bool interrupted) {
  if (json) {
    nlohmann::json summary = nlohmann::json::array();
    for (const BatchEntry& e : entries) summary.push_back(EntryToJson(e));
    std::cout << summary.dump(2) << "\n";
  } else {
    std::cout << SummaryMarkdown(entries);
  }
  std::map<std::string, int> counts;
  for (const BatchEntry& e : entries) ++counts[e.status];
  std::string tally;
  for (const auto& [status, n] : counts)
    tally += (tally.empty() ? "" : ", ") + std::to_string(n) + " " + status;
  spdlog::info("batch: {} jobs: {}; summary in {}/summary.json", entries.size(), tally, out_dir);
  std::vector<std::string> missed = GateFailures(entries, gate);
  for (const std::string& m : missed) spdlog::error("gate: {}", m);
  return BatchExitCode(entries, interrupted, !missed.empty());
}

struct BatchFlags {
  std::string input, out_dir, shard = "1/1";
  int jobs = 0;
  bool resume = false;
  GateFlags gate;
  JobFlags job;
};

struct MergeFlags {
  std::vector<std::string> dirs;
  std::string out_dir;
  GateFlags gate;
};

}  // namespace

void SetUpBatch(CLI::App& app) {
  auto f = std::make_shared<BatchFlags>();
  CLI::App* cmd =
      app.add_subcommand("batch", "Run many repair jobs: a manifest, or a folder of models");
  cmd->add_option("input", f->input,
                  "Manifest JSON, or a folder whose *.onnx/*.nnet/*.json are the models")
      ->required();
  cmd->add_option("--out-dir", f->out_dir,
                  "Results: <job>/..., summary.json, summary.csv, batch.json")
      ->required();
  cmd->add_option("-j,--jobs", f->jobs,
                  "Jobs at once (each single-threaded); 0: the number of cores")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--shard", f->shard,
                  "Run shard I of N: jobs sorted by name, index i with i % N == I-1")
      ->capture_default_str();
  cmd->add_flag("--resume", f->resume,
                "Skip jobs already finished with the same inputs (sha256) and options");
  AddGateFlags(cmd, f->gate);
  AddJobFlags(cmd, f->job, JobFlagStyle::kBatch);
  cmd->footer(
      R"(Manifest: {"defaults": {OPTIONS}, "jobs": [{"name": "a", "model": "a.onnx", OPTIONS}, ...]}
OPTIONS are the job options below with '_' for '-' ("repair_range": "0:5000"); relative paths
resolve against the manifest's folder (docs/batch.md). Exit codes: 0 all finished and gates met,
6 a gate missed, 7 a job did not finish (wins over 6), 130 stopped (re-run with --resume).)");
  cmd->callback([f] {
    nlohmann::json flags = GivenJobFlags(f->job);
    Shard shard = ParseShard(f->shard);
    BatchGate gate = ToGate(f->gate);  // refuse a bad gate before hours of work
    BatchManifest manifest;
    if (std::filesystem::is_directory(f->input)) {
      manifest = ManifestFromModelFolder(f->input, flags, JobOptionDefaults());
    } else {
      if (!flags.empty()) {
        const std::string key = flags.begin().key();
        throw Error(ExitCode::kUsage, JobOptionFlag(*FindJobOption(key)) +
                                          " applies to a folder of models; with a manifest put \"" +
                                          key + "\" in its \"defaults\" or in a job");
      }
      manifest = LoadBatchManifest(f->input, JobOptionDefaults());
    }
    BatchOptions o;
    o.out_dir = f->out_dir;
    o.jobs = f->jobs;
    o.shard = shard;
    o.resume = f->resume;
    o.stop = InstallStopHandlers();
    BatchResult result = RunBatch(manifest, o);
    CommandExitCode() = Finish(result.entries, f->out_dir, gate, f->gate.json, result.interrupted);
  });

  auto m = std::make_shared<MergeFlags>();
  CLI::App* merge =
      app.add_subcommand("batch-merge", "Merge the summaries of a batch's shards into one");
  merge->add_option("dirs", m->dirs, "The shards' --out-dir folders")->required();
  merge
      ->add_option("--out-dir", m->out_dir,
                   "Where the merged summary.json, summary.csv, batch.json go")
      ->required();
  AddGateFlags(merge, m->gate);
  merge->callback([m] {
    BatchGate gate = ToGate(m->gate);
    std::error_code ec;
    for (const std::string& d : m->dirs) {
      if (std::filesystem::equivalent(d, m->out_dir, ec)) {
        throw Error(ExitCode::kUsage,
                    "--out-dir " + m->out_dir + " is one of the shards' folders; pick another");
      }
    }
    MergedBatch merged = MergeBatchSummaries(m->dirs);
    std::filesystem::create_directories(m->out_dir, ec);
    WriteBatchSummary(m->out_dir, merged.meta, merged.entries);
    CommandExitCode() = Finish(merged.entries, m->out_dir, gate, m->gate.json, false);
  });
}

}  // namespace qrepair::cli
