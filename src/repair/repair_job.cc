// The repair job: the pipeline from files to a verified repaired network and its report.
#include "qrepair/repair/repair_job.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "qrepair/io/atomic_file.h"
#include "qrepair/io/json_io.h"
#include "qrepair/io/model_source.h"
#include "qrepair/quant/evaluate.h"
#include "qrepair/repair/pipeline.h"
#include "qrepair/version.h"

namespace qrepair {

void WriteExtraOutputs(const std::vector<ExtraOutput>& files) {
  for (const ExtraOutput& f : files) {
    WriteFileAtomic(f.path, f.bytes);
    spdlog::info("wrote {} ({} bytes): {}", f.path, f.bytes.size(), f.what);
  }
}

namespace {

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The time the job keeps back from the init and from the SMT stage. --time-limit covers the whole
// job; what the job cannot cut short are the reference passes at its end (serialize, re-parse,
// re-measure: about two measurements, plus the guard set's predictions), so the init's share also
// leaves the measurement of its own result. `pass_seconds` is one measured pass over the repair
// and holdout rows; `guard_share` the guard set's size relative to them. Without the guard's
// share a Convnet_maxpool job with --augment shift8 ended 9 s after a 110 s limit; without a
// deadline for the init, a job on a 784-4096-4096-10 MLP ran 323-356 s under --time-limit 15
// (docs/benchmarks.md).
struct JobReserves {
  double before_init, before_smt;
};
JobReserves Reserves(double pass_seconds, double guard_share) {
  return {(3.5 + guard_share) * pass_seconds + 1.0, (2.5 + guard_share) * pass_seconds + 1.0};
}

// The bytes the job writes, with the provenance of a repair.
std::string RepairedModelBytes(const ModelFile& model, const QuantizedNetwork& repaired,
                               const RepairJobOptions& o, const std::string& model_sha256) {
  ModelFile out = model;
  out.quantized = repaired;
  out.provenance.created_by = "repair";
  out.provenance.tool_version = kVersion;
  out.provenance.source_model = o.model;
  out.provenance.source_sha256 = model_sha256;
  return ModelFileToJson(out).dump(1) + "\n";
}

// Renders every output before the first file is written; then writes them, each atomically.
void WriteJobOutputs(const RepairJobOptions& o, const std::string& model_bytes,
                     const ModelFile& written, const RepairReport& report) {
  const std::vector<ExtraOutput> extra =
      o.render_extra ? o.render_extra(written, report) : std::vector<ExtraOutput>{};
  const std::string report_json = o.report_json.empty() ? "" : ReportToJson(report).dump(2) + "\n";
  const std::string report_md = o.report_md.empty() ? "" : ReportToMarkdown(report);
  WriteFileAtomic(o.output, model_bytes);
  if (!o.report_json.empty()) WriteFileAtomic(o.report_json, report_json);
  if (!o.report_md.empty()) WriteFileAtomic(o.report_md, report_md);
  WriteExtraOutputs(extra);
}

}  // namespace

RepairJobResult RunRepairJob(const RepairJobOptions& o, const JobProgressFn& progress) {
  const auto begin = std::chrono::steady_clock::now();
  const Budget budget = Budget::Start(o.limits, o.stop);
  const std::vector<std::string> inputs = {o.model, o.config, o.data.data_path, o.data.labels_path};
  for (const std::string* out : {&o.output, &o.report_json, &o.report_md})
    RefuseOverwritingInputs(*out, inputs, o.force);
  const RepairData data = LoadRepairData(
      o.data, o.repair_range,
      o.has_holdout ? std::optional<RowRange>(o.holdout_range) : std::nullopt, o.repair.target);
  const ModelFile model = OpenModel(o.model, o.config, data.repair);
  CheckLabelClasses(data.holdout, model.float_network.NumClasses());
  CheckRepairable(model.quantized);  // before the init's work, not only in RunRepair after it
  RepairJobResult result;
  RepairReport& report = result.report;
  report.model = o.model;
  report.model_sha256 = Sha256File(o.model);
  report.tool_version = kVersion;
  report.init_method = InitMethodName(o.init);
  Predictions rtn_pred;
  const auto measure_begin = std::chrono::steady_clock::now();
  report.before =
      Measure(model.float_network, model.quantized, data.repair, data.Holdout(), &rtn_pred);
  const double pass_seconds = SecondsSince(measure_begin);

  const FloatBatch repair_inputs = InputBatch(data.repair);
  const Augmentation augment = ResolveAugmentation(
      o.augment, data.repair.sample_shape, model.float_network.input_shape, &report.augment_reason);
  report.augment = AugmentationName(augment);
  FloatBatch augmented =
      AugmentCalibration(repair_inputs, augment, model.float_network.input_shape);
  const int64_t guard_inputs = o.guard ? augmented.cols() - repair_inputs.cols() : 0;
  const JobReserves reserve = Reserves(
      pass_seconds, static_cast<double>(guard_inputs) /
                        static_cast<double>(std::max<int64_t>(
                            1, data.repair.rows + (data.has_holdout ? data.holdout.rows : 0))));
  const StartPoint start =
      InitAndChooseStart(model.float_network, model.quantized, data, report.before, rtn_pred,
                         augmented, o.init, o.repair.target, budget.Reserve(reserve.before_init));
  report.init = start.init_figures;
  report.init_seconds = start.init_seconds;
  report.init_layers = start.init.layers;
  report.init_layers_done = start.init.rerounded;
  report.start = start.from;

  RepairOptions ro = o.repair;
  if (guard_inputs > 0) ro.guard = augmented.rightCols(guard_inputs);
  augmented = FloatBatch();
  const RepairResult rr =
      RunRepair(model.float_network, start.network, data.repair, ro,
                budget.Reserve(reserve.before_smt), [&](int done, int total, int64_t right) {
                  if (progress) progress(done, total, right, budget.SecondsLeft());
                });
  report.changes = rr.changes;
  report.solver = rr.solver;
  report.rounds = rr.rounds;
  report.stopped = rr.stopped;

  // The written bytes are what is checked: serialize, parse back, re-run the reference pass.
  const std::string bytes = RepairedModelBytes(model, rr.network, o, report.model_sha256);
  ModelFile reread = ModelFileFromJson(nlohmann::json::parse(bytes), o.output);
  CheckRepairClaims(reread.float_network, reread.quantized, data, ro, rtn_pred,
                    start.repair_predictions, rr, report);
  result.code = ClassifyOutcome(rr, start.init.complete, report);
  nlohmann::json echo = o.echo;
  report.options = &echo;
  report.seconds = SecondsSince(begin);
  WriteJobOutputs(o, bytes, reread, report);
  report.options = nullptr;
  result.repaired = std::move(reread);
  return result;
}

}  // namespace qrepair
