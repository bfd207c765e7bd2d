// The batch manifest: which repair jobs a `qrepair batch` runs, from a manifest JSON file or from
// a folder of models sharing one set of options. Each job becomes a RepairJobOptions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "qrepair/repair/job_options.h"
#include "qrepair/repair/repair_job.h"

namespace qrepair {

struct BatchJob {
  std::string name;        // unique, filesystem-safe: the job's folder under --out-dir
  nlohmann::json options;  // every option key with its effective value; "model" included;
                           // paths resolved; ranges normalized ("0:5000", "5000:")
};

struct BatchManifest {
  std::string source;          // the manifest file or the models folder, for messages
  std::string sha256;          // manifest bytes (or, for a folder, the canonical job list)
  std::vector<BatchJob> jobs;  // sorted by name
};

// Parses a manifest: {"defaults": {OPTIONS}, "jobs": [{"name", "model", OPTIONS...}, ...]}.
// Relative paths resolve against `base_dir`. A job's "name" defaults to its model's file stem.
// Unknown keys, wrong types, bad values and duplicate names throw BadInput(source, JSON path).
// `option_defaults` (every option key, checked) is what an option left out gets: the CLI passes
// the repair command's own defaults (RepairCommandDefaults in the batch command).
BatchManifest ParseBatchManifest(const nlohmann::json& root, const std::string& source,
                                 const std::string& base_dir,
                                 const nlohmann::json& option_defaults = JobOptionDefaults());
// Reads and parses a manifest file (relative paths resolve against its folder).
BatchManifest LoadBatchManifest(const std::string& path,
                                const nlohmann::json& option_defaults = JobOptionDefaults());

// Every *.onnx, *.nnet and *.json file directly in `dir` becomes a job named by its file stem,
// with `options` (same keys as a manifest's "defaults"; paths relative to the current folder).
// Files that are one of the options' inputs (a config kept next to the models) are left out.
BatchManifest ManifestFromModelFolder(const std::string& dir, const nlohmann::json& options,
                                      const nlohmann::json& option_defaults = JobOptionDefaults());

// The job as RepairJobOptions (outputs left empty; RepairOptions::jobs = 1, stop unset).
RepairJobOptions ToRepairJobOptions(const BatchJob& job);
// The input files whose bytes the job depends on, by role: "model", "config", "data", "labels"
// (the last three only when given).
std::vector<std::pair<std::string, std::string>> JobInputFiles(const BatchJob& job);
// The options without file names: what, besides the inputs' bytes, decides the job's result.
nlohmann::json JobKeyOptions(const BatchJob& job);

// Whether `name` can be a job folder: [A-Za-z0-9][A-Za-z0-9._-]*, at most 100 characters,
// and not one of the batch's own files (summary.json, summary.csv, batch.json).
bool IsSafeJobName(const std::string& name);

}  // namespace qrepair
