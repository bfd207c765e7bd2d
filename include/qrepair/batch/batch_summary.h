// A batch's results: one entry per job, written as DIR/summary.json (array), DIR/summary.csv and
// a Markdown table, plus DIR/batch.json (which manifest and shard produced them). The CI gates
// (--fail-under, --fail-if-drop) and the batch exit code are computed from these entries.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "qrepair/error.h"

namespace qrepair {

// Job statuses. Finished (outputs written and verified): "repaired", "no_improvement",
// "limit_reached". Not finished: "failed", "bad_input", "interrupted", "not_run".
bool JobFinished(const std::string& status);

struct BatchEntry {
  std::string name;
  std::string status;
  int exit_code = 0;    // what `qrepair repair` would have returned for this job
  std::string message;  // the error, or a one-line outcome
  double seconds = 0;
  nlohmann::json before;  // the report's "before" object (null when the job produced no report)
  nlohmann::json after;   // the report's "after" object
  int64_t neurons_repaired = 0;
  int64_t weights_changed = 0;
  bool resumed = false;  // taken from an earlier run's DIR/<name>/job.json (--resume)
};

nlohmann::json EntryToJson(const BatchEntry& entry);
// Throws BadInput(source, "$[i]...") on a malformed entry.
BatchEntry EntryFromJson(const nlohmann::json& json, const std::string& source,
                         const std::string& path);

std::string SummaryCsv(const std::vector<BatchEntry>& entries);
std::string SummaryMarkdown(const std::vector<BatchEntry>& entries);

// 1-based shard I of N: the jobs (sorted by name) whose index i satisfies i % N == I - 1.
struct Shard {
  int index = 1;
  int count = 1;
};
Shard ParseShard(const std::string& text);  // "I/N" with 1 <= I <= N; throws Error(kUsage)
bool InShard(size_t job_index, const Shard& shard);

// DIR/batch.json: where a summary came from, so shards can be checked before they are merged.
struct BatchMeta {
  std::string manifest;  // path or folder as given
  std::string manifest_sha256;
  Shard shard;
  std::vector<std::string> all_jobs;     // every job name of the manifest, sorted
  int64_t jobs_run = 0;                  // this invocation ran them
  int64_t jobs_resumed = 0;              // this invocation took them from earlier runs
  std::vector<std::string> merged_from;  // batch-merge: the shard folders
};
nlohmann::json MetaToJson(const BatchMeta& meta);
BatchMeta MetaFromJson(const nlohmann::json& json, const std::string& source);

// Writes DIR/summary.json, DIR/summary.csv and DIR/batch.json, each atomically.
void WriteBatchSummary(const std::string& dir, const BatchMeta& meta,
                       const std::vector<BatchEntry>& entries);

// CI gates. Accuracy is in percent (0..100) and is the repaired network's holdout accuracy
// against the labels (the repair range's when a job has no holdout range).
struct BatchGate {
  std::optional<double> fail_under_percent;  // repaired accuracy < this fails
  std::optional<double> fail_if_drop_pp;     // float accuracy - repaired accuracy (pp) > this fails
};
// One line per finished job that misses a gate (jobs that did not finish are not checked here;
// they make the batch partial). A job without labels cannot pass an accuracy gate.
std::vector<std::string> GateFailures(const std::vector<BatchEntry>& entries,
                                      const BatchGate& gate);

// Precedence: interrupted (130) > a job not finished (kBatchPartial, 7) > a gate missed
// (kThresholdFailed, 6) > success.
ExitCode BatchExitCode(const std::vector<BatchEntry>& entries, bool interrupted, bool gates_missed);

}  // namespace qrepair
