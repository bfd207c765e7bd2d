// `qrepair sweep`: float, round-to-nearest and repaired accuracy for each weight bit width.
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "qrepair/io/atomic_file.h"
#include "qrepair/repair/sweep.h"

namespace qrepair::cli {

namespace {

struct SweepFlags {
  std::string model;
  DataFlags data;
  std::string bits = "2..8";
  std::string granularity = "per-tensor";
  std::string scale = "max-abs";
  CLI::Option* scale_given = nullptr;  // --scale on the command line
  int activation_bits = 8;
  std::string decision = "argmax";
  std::string repair_range = "0:5000";
  std::string holdout_range;
  double time_limit = 30;
  std::string init = "rtn";
  int neurons = 16;
  int64_t max_delta = 2;
  int64_t margin = 1;
  int jobs = 1;
  std::string svg;
  bool json = false;
  bool force = false;
};

void RunSweepCommand(const SweepFlags& f) {
  SweepOptions o;
  o.model = f.model;
  o.data = ToDataOptions(f.data, "");
  o.repair_range = ParseRowRange(f.repair_range, "--repair-range");
  if (!f.holdout_range.empty()) {
    o.has_holdout = true;
    o.holdout_range = ParseRowRange(f.holdout_range, "--holdout-range");
  }
  o.bits = ParseBitList(f.bits, "--bits");
  o.granularity =
      f.granularity == "per-channel" ? Granularity::kPerChannel : Granularity::kPerTensor;
  o.scale_rule = ParseScaleRule(f.scale, "command line", "--scale");
  o.scale_given = f.scale_given != nullptr && f.scale_given->count() > 0;
  o.activation_bits = f.activation_bits;
  o.decision = f.decision == "argmin" ? Decision::kArgmin : Decision::kArgmax;
  o.init = ParseInitMethod(f.init);
  o.limits.job_seconds = f.time_limit;
  // The sweep's solver calls as they have always been: SolverOptions' own limits, no work budget.
  o.limits.call_seconds = SolverOptions().solve_time_limit_seconds;
  o.limits.call_work = 0;
  o.repair.neurons = f.neurons;
  o.repair.build.max_delta = f.max_delta;
  o.repair.build.margin = f.margin;
  o.repair.jobs = f.jobs;
  o.stop = InstallStopHandlers();
  RefuseOverwritingInputs(f.svg, {f.model, f.data.data, f.data.labels}, f.force);
  SweepResult result = RunSweep(o, [&](int done, int total, int bits) {
    ShowProgress("sweep", done, total, (total - done) * o.limits.job_seconds,
                 std::to_string(bits) + " bits");
  });
  EndProgress();
  if (!f.svg.empty()) {
    WriteFileAtomic(f.svg, SweepSvg(result));
    spdlog::info("wrote {}", f.svg);
  }
  if (f.json) {
    nlohmann::json j = result;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << SweepMarkdown(result);
  }
  if (o.stop->load()) CommandExitCode() = ExitCode::kInterrupted;
}

}  // namespace

void SetUpSweep(CLI::App& app) {
  auto f = std::make_shared<SweepFlags>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Float, round-to-nearest and repaired accuracy per weight bit width");
  cmd->add_option("model", f->model, "Float model (.onnx, .nnet, .json)")->required();
  AddDataFlags(cmd, f->data, false);
  cmd->add_option("--bits", f->bits, "Weight bit widths: A..B or a,b,c (2..16)")
      ->capture_default_str();
  cmd->add_option("--granularity", f->granularity, "Weight scales")
      ->capture_default_str()
      ->check(CLI::IsMember({"per-tensor", "per-channel"}));
  f->scale_given =
      cmd->add_option("--scale", f->scale,
                      "Weight scale rule, as the config's \"scale\" (round to nearest; without "
                      "it, an init other than rtn searches the scales: mse)");
  f->scale_given->capture_default_str()->check(CLI::IsMember({"max-abs", "power-of-two", "mse"}));
  cmd->add_option("--activation-bits", f->activation_bits, "Activation code bits")
      ->capture_default_str()
      ->check(CLI::Range(2, 16));
  cmd->add_option("--decision", f->decision,
                  "Which output is the top-1: argmax, or argmin (ACAS Xu's advisories)")
      ->capture_default_str()
      ->check(CLI::IsMember({"argmax", "argmin"}));
  cmd->add_option("--repair-range", f->repair_range, "Rows A:B for calibration and repair")
      ->capture_default_str();
  cmd->add_option("--holdout-range", f->holdout_range, "Rows A:B the figures are measured on");
  cmd->add_option("--time-limit", f->time_limit, "Wall-clock seconds per bit width (init + repair)")
      ->capture_default_str();
  cmd->add_option("--init", f->init, "Starting rounding: rtn, gptq, gptq-float")
      ->capture_default_str()
      ->check(CLI::IsMember({"rtn", "gptq", "gptq-float"}));
  cmd->add_option("--neurons", f->neurons, "Most critical neurons tried per round")
      ->capture_default_str();
  cmd->add_option("--max-delta", f->max_delta, "Largest change of an integer weight")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 15));
  cmd->add_option("--margin", f->margin, "Logit quanta a fixed sample must win by")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("-j,--jobs", f->jobs, "Solver processes at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--svg", f->svg, "Write the accuracy vs bit width plot (SVG)");
  cmd->add_flag("--json", f->json, "One JSON object on stdout instead of the Markdown table");
  cmd->add_flag("--force", f->force, "Allow the plot to overwrite an input file");
  cmd->callback([f] { RunSweepCommand(*f); });
}

}  // namespace qrepair::cli
