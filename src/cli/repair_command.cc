// `qrepair repair`: repair a quantized network and write it with its report.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "job_flags.h"
#include "qrepair/repair/job_options.h"
#include "qrepair/repair/repair_job.h"

namespace qrepair::cli {

namespace {

// The job options come from the one table (job_flags.h); these are the repair command's own.
struct RepairFlags {
  std::string model, output, report, report_md;
  DataFlags data;
  JobFlags job;
  int jobs = 1;
  bool force = false;
  bool json = false;
};

void RunRepairCommand(const RepairFlags& f, const ExportOutputs& outputs) {
  nlohmann::json options = AllJobFlags(f.job);
  options["model"] = f.model;
  options["data"] = f.data.data;
  options["labels"] =
      f.data.labels.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.data.labels);
  options["input_scale"] = f.data.input_scale;
  options["input_offset"] = f.data.input_offset;
  for (const JobOptionSpec& s : JobOptionSpecs()) {
    std::string problem = CheckJobOption(s, options[s.key]);  // normalizes the ranges
    if (!problem.empty()) throw Error(ExitCode::kUsage, JobOptionFlag(s) + ": " + problem);
  }
  RepairJobOptions o = RepairJobOptionsFromJson(options);
  o.repair.jobs = f.jobs;
  o.stop = InstallStopHandlers();
  o.output = f.output;
  o.report_json = f.report;
  o.report_md = f.report_md;
  o.force = f.force;
  o.echo["jobs"] = f.jobs;
  CheckExportOutputs(outputs, {f.model, o.config, f.data.data, f.data.labels}, f.force);
  o.render_extra = [&outputs](const ModelFile& repaired, const RepairReport& report) {
    return RenderRepairOutputs(outputs, repaired, report);
  };
  RepairJobResult result =
      RunRepairJob(o, [](int done, int total, int64_t right, double seconds_left) {
        ShowProgress("repair", done, total, seconds_left, std::to_string(right) + " right");
      });
  EndProgress();
  if (f.json) {
    std::cout << ReportToJson(result.report).dump(2) << "\n";
  } else {
    std::cout << ReportSummaryTable(result.report);
  }
  CommandExitCode() = result.code;
}

}  // namespace

void SetUpRepair(CLI::App& app) {
  auto f = std::make_shared<RepairFlags>();
  auto outputs = std::make_shared<ExportOutputs>();
  CLI::App* cmd = app.add_subcommand("repair", "Repair a quantized network with Z3 and verify it");
  cmd->add_option("model", f->model, "Float model (.onnx, .nnet, .json) or quantized .json")
      ->required();
  AddJobFlags(cmd, f->job, JobFlagStyle::kRepair, [&](const std::string& key) {
    if (key == "repair_range") AddDataFlags(cmd, f->data, false);
    if (key == "encoding") {
      cmd->add_option("-j,--jobs", f->jobs, "Solver processes at once")
          ->capture_default_str()
          ->check(CLI::Range(1, 256));
    }
  });
  cmd->add_option("-o,--output", f->output, "Repaired network (qrepair JSON)")->required();
  cmd->add_option("--report", f->report, "Report JSON");
  cmd->add_option("--report-md", f->report_md, "Report Markdown");
  AddExportOptions(cmd, *outputs, true);
  cmd->add_flag("--force", f->force, "Allow outputs to overwrite input files");
  cmd->add_flag("--json", f->json, "Print the report JSON on stdout instead of the table");
  cmd->callback([f, outputs] { RunRepairCommand(*f, *outputs); });
}

}  // namespace qrepair::cli
