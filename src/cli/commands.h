// Subcommand registration: each subcommand's file registers its options on the app and runs
// one library function from its callback. main() owns the error policy.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <string>

#include "qrepair/error.h"
#include "qrepair/io/dataset.h"

namespace qrepair::cli {

// The exit code a subcommand wants main() to return (set by the callbacks).
ExitCode& CommandExitCode();

// Data flags shared by eval, rank, repair and sweep.
struct DataFlags {
  std::string data;
  std::string labels;
  double input_scale = 1.0;
  double input_offset = 0.0;
  std::string range;
};
void AddDataFlags(CLI::App* app, DataFlags& flags, bool with_range);
// An option holding a real number written as a decimal ("0.5", "1e-3") or a fraction of two
// ("1/255", exactly 1.0 / 255 in double), as users write input scales.
CLI::Option* AddRealOption(CLI::App* app, const std::string& name, double& value,
                           const std::string& description);
DataOptions ToDataOptions(const DataFlags& flags, const std::string& range);

// Logging verbosity from -q/-v (logs go to stderr; stdout is for results).
void SetVerbosity(bool quiet, int verbose);

void SetUpEval(CLI::App& app);
void SetUpQuantize(CLI::App& app);
void SetUpRank(CLI::App& app);

}  // namespace qrepair::cli

namespace qrepair::cli {
// SIGINT/SIGTERM set the returned flag (long commands stop at the next safe point).
const std::atomic<bool>* InstallStopHandlers();
// Progress on stderr: a redrawn bar on a terminal, a plain line at most every 5 s otherwise.
void ShowProgress(const char* what, int done, int total, double seconds_left,
                  const std::string& detail);
void EndProgress();
void SetUpRepair(CLI::App& app);

void SetUpSweep(CLI::App& app);

// Exports (export_command.cc), also offered by `repair`.
void SetUpExport(CLI::App& app);
struct ExportOutputs {
  std::string onnx, c_header, report_svg;
  std::string prefix = "qrepair";
};
void AddExportOptions(CLI::App* cmd, ExportOutputs& outputs, bool with_report_svg);
void CheckExportOutputs(const ExportOutputs& outputs, const std::vector<std::string>& inputs,
                        bool force);
}  // namespace qrepair::cli
namespace qrepair {
struct ExtraOutput;
struct ModelFile;
struct RepairReport;
}  // namespace qrepair
namespace qrepair::cli {
// The exports and the per-class SVG of a verified repair, rendered (and so validated) in memory;
// `repair` writes them with its other outputs, or nothing if one fails.
std::vector<ExtraOutput> RenderRepairOutputs(const ExportOutputs& outputs,
                                             const ModelFile& repaired, const RepairReport& report);
void SetUpBatch(CLI::App& app);  // `batch` and `batch-merge`
void SetUpVerify(CLI::App& app);
}  // namespace qrepair::cli
