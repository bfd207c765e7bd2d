// The per-job repair options of `qrepair batch`: the `qrepair repair` long flags with `_` for
// `-` ("repair_range"), their types, defaults and checks, and their mapping onto RepairJobOptions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "qrepair/repair/repair_job.h"

namespace qrepair {

enum class JobOptionType { kPath, kString, kRange, kNumber, kInteger, kBool, kStringList };

struct JobOptionSpec {
  const char* key;
  JobOptionType type;
  const char* default_json;  // default as JSON text ("null": none); see JobOptionDefaults()
  const char* help;
  double min = 0, max = 0;   // kNumber/kInteger: allowed range (inclusive)
  const char* choices = "";  // kString: allowed values, comma-separated
  // kString values that no fixed list describes: returns "" or what is wrong with `value`.
  std::string (*check)(const std::string& value) = nullptr;
};

// Every key a manifest's "defaults" or a job may set (besides a job's "name" and "model").
const std::vector<JobOptionSpec>& JobOptionSpecs();
const JobOptionSpec* FindJobOption(const std::string& key);  // nullptr when unknown

// Checks `value` against `spec` and normalizes it in place (integers as integers, other numbers
// as doubles, ranges as "A:B" / "A:"); returns "" or what is wrong with it.
std::string CheckJobOption(const JobOptionSpec& spec, nlohmann::json& value);

// Every option with the table's default value. The batch command overrides these with the
// repair command's defaults as its flags declare them, so the two cannot drift apart; the table
// is the fallback for library users and for options the repair command shows no default for.
nlohmann::json JobOptionDefaults();

// A complete, checked options object (JobOptionDefaults() with checked values applied, plus
// "model") as RepairJobOptions: outputs empty, RepairOptions::jobs = 1, stop unset, echo = json.
RepairJobOptions RepairJobOptionsFromJson(const nlohmann::json& options);

}  // namespace qrepair
