// The options of one repair job, declared once: each option's key, type, default, help and check.
// `qrepair repair`'s flags (`--repair-range`), a batch manifest's keys ("repair_range"), the
// batch command's job flags, the job-options JSON and the report's "options" all come from it.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "qrepair/repair/repair_job.h"

namespace qrepair {

enum class JobOptionType {
  kPath,
  kString,
  kRange,
  kNumber,
  kInteger,
  kUnsigned,  // an integer >= 0 (the flag parses it as unsigned)
  kBool,
  kStringList,
};

struct JobOptionSpec {
  const char* key;  // the manifest key; the flag is "--" + key with '-' for '_'
  JobOptionType type;
  const char* default_json;  // default as JSON text ("null": none); see JobOptionDefaults()
  const char* help;          // `qrepair repair --help`; nullptr: a shared data flag (AddDataFlags)
  const char* brief;         // the batch command's job flags and docs/batch.md
  double min = 0, max = 0;   // kNumber/kInteger/kUnsigned: allowed range (inclusive)
  // The range only refuses nonsense (a zero round count, a negative time): `--help` omits it.
  bool quiet_range = false;
  const char* choices = "";  // kString: allowed values, comma-separated
  // kString values that no fixed list describes: returns "" or what is wrong with `value`.
  std::string (*check)(const std::string& value) = nullptr;
};

// Every key a manifest's "defaults" or a job may set (besides a job's "name" and "model"), in
// the order `qrepair repair --help` lists them.
const std::vector<JobOptionSpec>& JobOptionSpecs();
const JobOptionSpec* FindJobOption(const std::string& key);  // nullptr when unknown
std::string JobOptionFlag(const JobOptionSpec& spec);        // "--repair-range"

// Checks `value` against `spec` and normalizes it in place (integers as integers, other numbers
// as doubles, ranges as "A:B" / "A:"); returns "" or what is wrong with it.
std::string CheckJobOption(const JobOptionSpec& spec, nlohmann::json& value);

// Every option with its default value: what an option left out means, for `qrepair repair`, a
// manifest and the batch command's flags alike.
nlohmann::json JobOptionDefaults();

// A complete, checked options object (JobOptionDefaults() with checked values applied, plus
// "model") as RepairJobOptions: outputs empty, RepairOptions::jobs = 1, stop unset, echo = json.
RepairJobOptions RepairJobOptionsFromJson(const nlohmann::json& options);

}  // namespace qrepair
