// `qrepair verify --instances`: a VNN-COMP instance list (`onnx,vnnlib,timeout` per line, paths
// relative to the list's folder) verified one instance after another, or --jobs N at once, each
// in a child process (the summary keeps list order; results.csv is in order of completion). Every
// finished instance is appended to OUT_DIR/results.csv and flushed at once, so a killed run loses
// nothing and
// --resume picks up where it stopped; OUT_DIR/summary.md is written at the end.
//
// OUT_DIR/results.csv: `network,property,verdict,seconds,reason,key`, one line per instance,
// `verdict` one of holds, violated, timeout, unknown (ResultWord) or error (the instance could not
// be run: its message is the reason), `key` the sha256 of what decides the result (the network,
// property, config and calibration files' sha256, the data options and the limits). --resume
// keeps a line only when it is an instance of this list's shard with the key of the current
// set-up, and never an `error` line; everything else is dropped and runs again.
// OUT_DIR/counterexamples/NETWORK__PROPERTY.json holds each violated instance's counterexample.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "qrepair/batch/batch_summary.h"
#include "qrepair/error.h"
#include "qrepair/verify/verifier.h"
#include "qrepair/verify/verify_models.h"

namespace qrepair {

struct VerifyInstance {
  std::string network;   // as written in the list
  std::string property;  // as written in the list
  double timeout_seconds = 0;
  std::string network_path;  // resolved against the list's folder
  std::string property_path;
};

// Throws Error(kBadInput) "LIST: line N: ..." on a malformed line (a header line
// `onnx,vnnlib,timeout` is allowed; blank lines are skipped).
std::vector<VerifyInstance> ReadInstanceList(const std::string& path);

struct InstanceResult {
  std::string network, property;
  std::string verdict;  // holds, violated, timeout, unknown, error
  double seconds = 0;
  std::string reason;
  std::string key;
  bool resumed = false;  // taken from an earlier run's results.csv
};

struct InstancesOptions {
  std::string out_dir;
  VerifyModelSource models;
  VerifyOptions verify;  // time_limit_seconds > 0 overrides the list's timeouts
  bool resume = false;
  Shard shard;
};

struct InstancesRun {
  std::vector<InstanceResult> results;  // the shard's instances in list order, finished ones
  int64_t instances = 0;                // in the shard
  int64_t run = 0, resumed = 0, errors = 0;
  bool interrupted = false;  // options.verify.stop was set: the rest was not run
};

using VerifyFunction =
    std::function<VerifyResult(const QuantizedNetwork&, const Property&, const VerifyOptions&)>;

// Runs the shard's instances with `verify` (VerifyProperty; tests inject a fake). Throws only for
// the run as a whole (unreadable list, calibration data, OUT_DIR not writable); an instance's
// bad input is recorded as its `error` line.
InstancesRun RunInstances(const std::string& list_path, const InstancesOptions& options,
                          const VerifyFunction& verify);

// Precedence: interrupted (130) > an instance in error (kBatchPartial, 7) > success (0). The
// verdicts themselves are results, not failures.
ExitCode InstancesExitCode(const InstancesRun& run);

// The Markdown summary: counts per verdict, total and largest seconds, one row per instance.
std::string InstancesSummaryMarkdown(const InstancesRun& run, const std::string& list_path,
                                     const Shard& shard);

}  // namespace qrepair
