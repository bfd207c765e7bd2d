// One repair job end to end: load, quantize, initialize, repair, verify, write. Shared by
// `qrepair repair` and `qrepair batch`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "qrepair/dataset.h"
#include "qrepair/error.h"
#include "qrepair/init.h"
#include "qrepair/json_io.h"
#include "qrepair/repair.h"
#include "qrepair/report.h"

namespace qrepair {

struct RepairJobOptions {
  std::string model;
  std::string config;
  DataOptions data;            // without range
  RowRange repair_range;
  bool has_holdout = false;
  RowRange holdout_range;
  InitMethod init = InitMethod::kRtn;
  Augmentation augment;        // of the init's calibration set
  bool guard = true;           // the augmented copies also guard the SMT stage (RepairOptions::guard)
  RepairOptions repair;
  std::string output;          // repaired qrepair JSON (required)
  std::string report_json;
  std::string report_md;
  bool force = false;
  nlohmann::json echo;         // options echoed into the report
};

struct RepairJobResult {
  RepairReport report;
  ExitCode code = ExitCode::kSuccess;  // kSuccess, kNoImprovement, kLimitReached, kInterrupted
  ModelFile repaired;                  // what was written (for exporters)
};

// Throws Error for bad input and I/O failures. Writes nothing unless verification passed
// (then the output and reports are written atomically).
RepairJobResult RunRepairJob(const RepairJobOptions& options, const ProgressFn& progress = nullptr);

}  // namespace qrepair
