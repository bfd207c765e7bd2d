// `qrepair batch`: runs a manifest's repair jobs, each in its own process (--jobs at once), one
// folder of outputs per job, and records every outcome: a job that fails, crashes or has to be
// killed does not stop the batch.
//
// Layout of OUT_DIR:
//   <name>/repaired.json, <name>/report.json, <name>/report.md  written by the job (atomically)
//   <name>/job.json     written last: status, message, the resume key and the outputs' sha256
//   summary.json, summary.csv, batch.json                         written at the end
// A job's job.json is removed before the job starts, so a folder without one holds no claim.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "qrepair/batch/batch_manifest.h"
#include "qrepair/batch/batch_summary.h"

namespace qrepair {

struct BatchOptions {
  std::string out_dir;
  int jobs = 0;         // jobs at once; 0: the number of cores. Each job is single-threaded.
  Shard shard;          // run only this shard's jobs (1/1: all)
  bool resume = false;  // skip jobs whose job.json shows a finished run with the same key
  // Set by SIGINT/SIGTERM: running jobs are sent SIGTERM (they stop at their next safe point and
  // write their best verified result), no new job starts. Call RunBatch from a single thread.
  const std::atomic<bool>* stop = nullptr;
  // A job may run past its time_limit by this much (engine overhead, loading) before the batch
  // asks it to stop (it keeps its best verified result and is recorded as limit_reached):
  // max(grace_seconds, grace_fraction * time_limit).
  double grace_seconds = 30;
  double grace_fraction = 0.25;
  // A job still running this long after it was asked to stop (past its time limit, or SIGINT/
  // SIGTERM to the batch) is killed and recorded as failed.
  double kill_after_seconds = 30;
};

struct BatchResult {
  BatchMeta meta;
  std::vector<BatchEntry> entries;  // this shard's jobs, sorted by name
  bool interrupted = false;
};

// The resume key of a job: sha256 over the sha256 of each input file (by role: model, config,
// data, labels) and the canonical JSON of its options without file names. Throws BadInput when
// an input cannot be read.
std::string JobKey(const BatchJob& job);

// Runs the shard's jobs and writes the summary. Throws only when OUT_DIR cannot be written.
BatchResult RunBatch(const BatchManifest& manifest, const BatchOptions& options);

}  // namespace qrepair
