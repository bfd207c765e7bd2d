// The job options of the one table (qrepair/repair/job_options.h) as command-line flags: the
// repair command shows each with its help, default and check; the batch command offers them for a
// folder of models, each defaulting to what `qrepair repair` does.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "qrepair/repair/job_options.h"

namespace qrepair::cli {

struct JobFlags {
  std::map<std::string, std::string> text;
  std::map<std::string, double> number;
  std::map<std::string, int64_t> integer;
  std::map<std::string, uint64_t> count;  // kUnsigned in the repair command
  std::map<std::string, bool> flag;
  std::map<std::string, std::vector<std::string>> list;
  std::map<std::string, CLI::Option*> given;
};

enum class JobFlagStyle {
  kRepair,  // `qrepair repair`: the flag help, the defaults shown and held, the checks
  kBatch,   // `qrepair batch`: the brief help; only the flags given count (GivenJobFlags)
};

// Adds a flag for each table option (kRepair: not the shared data flags, which AddDataFlags
// declares). `before(key)` runs before each option is added (the repair command puts --jobs in).
void AddJobFlags(CLI::App* cmd, JobFlags& flags, JobFlagStyle style,
                 const std::function<void(const std::string& key)>& before = nullptr);

// The values of the flags given on the command line, by manifest key.
nlohmann::json GivenJobFlags(const JobFlags& flags);
// The values of every flag added (JobFlagStyle::kRepair: defaults for those not given).
nlohmann::json AllJobFlags(const JobFlags& flags);

}  // namespace qrepair::cli
