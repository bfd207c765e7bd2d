// One repair job end to end: load, quantize, initialize, repair, verify, write. Shared by
// `qrepair repair` and `qrepair batch`.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "qrepair/error.h"
#include "qrepair/io/dataset.h"
#include "qrepair/io/json_io.h"
#include "qrepair/quant/init.h"
#include "qrepair/repair/budget.h"
#include "qrepair/repair/repair.h"
#include "qrepair/report/report.h"

namespace qrepair {

// A further file of a repair job (an export, a plot), rendered in memory.
struct ExtraOutput {
  std::string path;
  std::string bytes;
  std::string what;  // for the log line
};

// Writes each file atomically, one log line each (`repair` and `export`).
void WriteExtraOutputs(const std::vector<ExtraOutput>& files);

struct RepairJobOptions {
  std::string model;
  std::string config;
  DataOptions data;  // without range
  RowRange repair_range;
  bool has_holdout = false;
  RowRange holdout_range;
  InitMethod init = InitMethod::kRtn;
  Augmentation augment;  // of the init's calibration set
  bool guard = true;     // the augmented copies also guard the SMT stage (RepairOptions::guard)
  RepairOptions repair;
  // Repair until proved (property_repair.h): VNN-LIB files, and each verification's seconds.
  std::vector<std::string> properties;
  double property_seconds = 60;
  // Local robustness as repair goals: radius in the data's raw units (0: off), and the rows (file
  // indices, inside repair_range) it covers (default: the whole repair range).
  double robust_radius = 0;
  bool has_robust_range = false;
  RowRange robust_range;
  BudgetLimits limits;                      // the job's time and work, and each solver call's
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT/SIGTERM
  std::string output;                       // repaired qrepair JSON (required)
  std::string report_json;
  std::string report_md;
  bool force = false;
  nlohmann::json echo;  // options echoed into the report
  // Renders further outputs of the verified network before anything is written: if it throws,
  // the job writes no file at all (the repaired JSON and reports included).
  std::function<std::vector<ExtraOutput>(const ModelFile& repaired, const RepairReport& report)>
      render_extra;
};

struct RepairJobResult {
  RepairReport report;
  ExitCode code = ExitCode::kSuccess;  // kSuccess, kNoImprovement, kLimitReached, kInterrupted
  ModelFile repaired;                  // what was written (for exporters)
};

// Progress: (neurons done, neurons planned, repair samples right now, seconds the job has left).
using JobProgressFn = std::function<void(int, int, int64_t, double)>;

// Throws Error for bad input and I/O failures. Writes nothing unless verification passed and
// every output rendered (then the output, the reports and the extra outputs are written, each
// atomically).
RepairJobResult RunRepairJob(const RepairJobOptions& options,
                             const JobProgressFn& progress = nullptr);

}  // namespace qrepair
