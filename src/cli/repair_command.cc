// `qrepair repair`: repair a quantized network and write it with its report.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "qrepair/repair/repair_job.h"

namespace qrepair::cli {

namespace {

struct RepairFlags {
  std::string model, config, output, report, report_md;
  DataFlags data;
  std::string repair_range = "0:5000";
  std::string holdout_range;
  int neurons = 16;
  std::vector<std::string> layers;
  int64_t max_delta = 2;
  int64_t margin = 1;
  int64_t keep_margin = 0;
  int max_changes = 8;
  std::string target = "float";
  double time_limit = 120;
  double call_time_limit = 30;
  uint64_t work_limit = 0;  // millions of Z3 resource units
  uint64_t call_work_limit = 100;
  int jobs = 1;
  std::string encoding = "lia";
  std::string init = "gptq-float";
  std::string augment = "none";
  std::string strategy = "default";
  std::string rank_method = "gradient";
  int max_rounds = 8;
  int max_passing_rows = 2000;
  uint64_t memory_limit_mb = 4096;
  bool allow_broken = false;
  std::string guard = "augment";
  bool force = false;
  bool json = false;
};

}  // namespace

void SetUpRepair(CLI::App& app) {
  auto f = std::make_shared<RepairFlags>();
  auto outputs = std::make_shared<ExportOutputs>();
  CLI::App* cmd = app.add_subcommand("repair", "Repair a quantized network with Z3 and verify it");
  cmd->add_option("model", f->model, "Float model (.onnx, .nnet, .json) or quantized .json")
      ->required();
  cmd->add_option("--config", f->config, "Quantization config JSON");
  AddDataFlags(cmd, f->data, false);
  cmd->add_option("--repair-range", f->repair_range, "Rows A:B the repair may look at")
      ->capture_default_str();
  cmd->add_option("--holdout-range", f->holdout_range, "Rows A:B only measured, never repaired on");
  cmd->add_option("--neurons", f->neurons, "Most critical neurons tried per round (K)")
      ->capture_default_str();
  cmd->add_option("--layers", f->layers, "Only repair these layers (names)");
  cmd->add_option("--max-delta", f->max_delta,
                  "Largest change of an integer weight from its start value")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 15));
  cmd->add_option("--margin", f->margin, "Logit quanta a fixed sample's target must win by")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--keep-margin", f->keep_margin,
                  "Passing samples keep min(their margin, this) logit quanta (guards unseen data)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--max-changes", f->max_changes,
                  "At most this many weights changed per neuron and solve (0: no bound)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--target", f->target, "float: agree with the float network; labels: true labels")
      ->capture_default_str()
      ->check(CLI::IsMember({"float", "labels"}));
  cmd->add_option("--time-limit", f->time_limit, "Wall-clock seconds for the whole job")
      ->capture_default_str();
  cmd->add_option("--call-time-limit", f->call_time_limit,
                  "Seconds per solver call (killed from outside)")
      ->capture_default_str();
  cmd->add_option("--work-limit", f->work_limit,
                  "Deterministic budget for the whole job in millions of Z3 resource units "
                  "(0: off); results then do not depend on machine speed (see docs/repair.md)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  cmd->add_option("--call-work-limit", f->call_work_limit,
                  "Millions of Z3 resource units per solver call (0: only the job's budget)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  cmd->add_option("--memory-limit", f->memory_limit_mb, "MiB per solver process")
      ->capture_default_str();
  cmd->add_option("-j,--jobs", f->jobs, "Solver processes at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--encoding", f->encoding, "bv, pb or lia")
      ->capture_default_str()
      ->check(CLI::IsMember({"bv", "pb", "lia"}));
  cmd->add_option("--init", f->init, "Starting rounding: rtn, gptq, gptq-float")
      ->capture_default_str()
      ->check(CLI::IsMember({"rtn", "gptq", "gptq-float"}));
  cmd->add_option("--augment", f->augment,
                  "Init calibration: none, or the repair images also shifted by one pixel: shift "
                  "(4 directions), shift8 (and diagonals); shift:HxW for flat inputs")
      ->capture_default_str();
  cmd->add_option(
         "--guard", f->guard,
         "Inputs that guard the SMT stage: augment (the --augment copies: a verified patch "
         "that lowers the agreement with float on them is refused) or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"augment", "none"}));
  cmd->add_option("--strategy", f->strategy, "default or qnnrepair")
      ->capture_default_str()
      ->check(CLI::IsMember({"default", "qnnrepair"}));
  cmd->add_option("--rank-method", f->rank_method, "Neuron ranking (see `qrepair rank --help`)")
      ->capture_default_str();
  cmd->add_option("--max-rounds", f->max_rounds, "Ranking/solving rounds")->capture_default_str();
  cmd->add_option("--max-passing-rows", f->max_passing_rows,
                  "Hidden layers: passing samples per problem")
      ->capture_default_str();
  cmd->add_flag("--allow-broken", f->allow_broken,
                "Accept patches that break passing samples when the net gain is positive");
  cmd->add_option("-o,--output", f->output, "Repaired network (qrepair JSON)")->required();
  cmd->add_option("--report", f->report, "Report JSON");
  cmd->add_option("--report-md", f->report_md, "Report Markdown");
  AddExportOptions(cmd, *outputs, true);
  cmd->add_flag("--force", f->force, "Allow outputs to overwrite input files");
  cmd->add_flag("--json", f->json, "Print the report JSON on stdout instead of the table");
  cmd->callback([f, outputs] {
    RepairJobOptions o;
    o.model = f->model;
    o.config = f->config;
    o.data = ToDataOptions(f->data, "");
    o.repair_range = ParseRowRange(f->repair_range, "--repair-range");
    if (!f->holdout_range.empty()) {
      o.has_holdout = true;
      o.holdout_range = ParseRowRange(f->holdout_range, "--holdout-range");
    }
    o.init = ParseInitMethod(f->init);
    o.augment = ParseAugmentation(f->augment);
    o.guard = f->guard == "augment";
    RepairOptions& r = o.repair;
    r.neurons = f->neurons;
    r.layers = f->layers;
    r.target = f->target == "float" ? RepairTarget::kFloat : RepairTarget::kLabels;
    r.rank_method = ParseRankMethod(f->rank_method);
    r.build.max_delta = f->max_delta;
    r.build.margin = f->margin;
    r.build.keep_margin = f->keep_margin;
    r.solver.max_changes = f->max_changes;
    r.build.max_passing_rows = f->max_passing_rows;
    r.solver.encoding = ParseEncoding(f->encoding);
    r.solver.time_limit_seconds = f->call_time_limit;
    r.solver.memory_limit_mb = f->memory_limit_mb;
    r.solver.work_limit = f->call_work_limit * kWorkUnit;
    r.work_limit = f->work_limit * kWorkUnit;
    r.strategy = ParseStrategy(f->strategy);
    r.time_limit_seconds = f->time_limit;
    r.jobs = f->jobs;
    r.max_rounds = f->max_rounds;
    r.allow_broken = f->allow_broken;
    r.stop = InstallStopHandlers();
    o.output = f->output;
    o.report_json = f->report;
    o.report_md = f->report_md;
    o.force = f->force;
    o.echo = {{"config", f->config},
              {"data", f->data.data},
              {"labels", f->data.labels},
              {"input_scale", f->data.input_scale},
              {"repair_range", f->repair_range},
              {"holdout_range", f->holdout_range},
              {"neurons", f->neurons},
              {"layers", f->layers},
              {"max_delta", f->max_delta},
              {"margin", f->margin},
              {"keep_margin", f->keep_margin},
              {"max_changes", f->max_changes},
              {"target", f->target},
              {"time_limit", f->time_limit},
              {"call_time_limit", f->call_time_limit},
              {"work_limit", f->work_limit},
              {"call_work_limit", f->call_work_limit},
              {"jobs", f->jobs},
              {"encoding", f->encoding},
              {"init", f->init},
              {"augment", f->augment},
              {"guard", f->guard},
              {"strategy", f->strategy},
              {"rank_method", f->rank_method},
              {"max_rounds", f->max_rounds},
              {"allow_broken", f->allow_broken}};
    CheckExportOutputs(*outputs, {f->model, f->config, f->data.data, f->data.labels}, f->force);
    o.render_extra = [outputs](const ModelFile& repaired, const RepairReport& report) {
      return RenderRepairOutputs(*outputs, repaired, report);
    };
    auto begin = std::chrono::steady_clock::now();
    RepairJobResult result = RunRepairJob(o, [&](int done, int total, int64_t right) {
      double left = f->time_limit -
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
      ShowProgress("repair", done, total, left, std::to_string(right) + " right");
    });
    EndProgress();
    if (f->json) {
      std::cout << ReportToJson(result.report).dump(2) << "\n";
    } else {
      std::cout << ReportSummaryTable(result.report);
    }
    CommandExitCode() = result.code;
  });
}

}  // namespace qrepair::cli
