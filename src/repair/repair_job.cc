// The repair job: the pipeline from files to a verified repaired network and its report.
#include "qrepair/repair/repair_job.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <map>

#include "qrepair/io/atomic_file.h"
#include "qrepair/io/json_io.h"
#include "qrepair/io/model_source.h"
#include "qrepair/quant/evaluate.h"
#include "qrepair/version.h"

namespace qrepair {

namespace {

StageFigures Measure(const Network& f, const QuantizedNetwork& q, const Dataset& repair,
                     const Dataset* holdout, Predictions* repair_predictions = nullptr) {
  StageFigures s;
  Predictions p = Predict(f, q, repair);
  s.repair = Summarize(p, f.NumClasses());
  if (repair_predictions) *repair_predictions = p;
  if (holdout) s.holdout = Summarize(Predict(f, q, *holdout), f.NumClasses());
  return s;
}

}  // namespace

void WriteExtraOutputs(const std::vector<ExtraOutput>& files) {
  for (const ExtraOutput& f : files) {
    WriteFileAtomic(f.path, f.bytes);
    spdlog::info("wrote {} ({} bytes): {}", f.path, f.bytes.size(), f.what);
  }
}

RepairJobResult RunRepairJob(const RepairJobOptions& o, const ProgressFn& progress) {
  const auto begin = std::chrono::steady_clock::now();
  RefuseOverwritingInputs(o.output, {o.model, o.config, o.data.data_path, o.data.labels_path},
                          o.force);
  for (const std::string* out : {&o.report_json, &o.report_md}) {
    RefuseOverwritingInputs(*out, {o.model, o.config, o.data.data_path, o.data.labels_path},
                            o.force);
  }
  DataOptions d = o.data;
  d.range = o.repair_range;
  Dataset repair = LoadDataset(d);
  Dataset holdout;
  if (o.has_holdout) {
    d.range = o.holdout_range;
    holdout = LoadDataset(d);
  }
  const Dataset* holdout_ptr = o.has_holdout ? &holdout : nullptr;
  if (o.repair.target == RepairTarget::kLabels && !repair.HasLabels()) {
    throw Error(ExitCode::kUsage, "--target labels needs --labels");
  }

  ModelFile model = OpenModel(o.model, o.config, repair);
  CheckRepairable(model.quantized);  // before the init's work, not only in RunRepair after it
  RepairJobResult result;
  RepairReport& report = result.report;
  report.model = o.model;
  report.model_sha256 = Sha256File(o.model);
  report.tool_version = kVersion;
  report.init_method = InitMethodName(o.init);
  Predictions before_pred;
  auto measure_begin = std::chrono::steady_clock::now();
  report.before = Measure(model.float_network, model.quantized, repair, holdout_ptr, &before_pred);
  const double measure_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - measure_begin).count();

  auto init_begin = std::chrono::steady_clock::now();
  const FloatBatch repair_inputs = InputBatch(repair);
  FloatBatch augmented =
      AugmentCalibration(repair_inputs, o.augment, model.float_network.input_shape);
  // --time-limit covers the whole job. The final verification (serialize, re-parse, re-measure:
  // about two measurements, plus the guard set's predictions, guard/measured samples
  // measurements) is kept out of the init's and the solver's shares, and the init's also leaves
  // the measurement of its own result. Without the guard's share a Convnet_maxpool job with
  // --augment shift8 ended 9 s after a 110 s limit; without a deadline for the init, a job on a
  // 784-4096-4096-10 MLP ran 323-356 s under --time-limit 15 (docs/benchmarks.md).
  const int64_t guard_inputs = o.guard ? augmented.cols() - repair_inputs.cols() : 0;
  const double guard_share = static_cast<double>(guard_inputs) /
                             static_cast<double>(std::max<int64_t>(1, repair.rows + holdout.rows));
  const double init_seconds_allowed = o.repair.time_limit_seconds -
                                      (3.5 + guard_share) * measure_seconds - 1.0 -
                                      std::chrono::duration<double>(init_begin - begin).count();
  const auto init_deadline =
      init_begin + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(std::max(0.0, init_seconds_allowed)));
  const auto init_should_stop = [&] {
    return (o.repair.stop != nullptr && o.repair.stop->load()) ||
           std::chrono::steady_clock::now() >= init_deadline;
  };
  InitSummary init_summary;
  QuantizedNetwork start = InitializeWeights(model.float_network, model.quantized, augmented,
                                             o.init, init_should_stop, 1024, &init_summary);
  report.init_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - init_begin).count();
  report.init_layers = init_summary.layers;
  report.init_layers_done = init_summary.rerounded;
  if (o.init == InitMethod::kRtn) report.start = "rtn";
  Predictions init_pred = before_pred;
  if (o.init != InitMethod::kRtn)
    report.init = Measure(model.float_network, start, repair, holdout_ptr, &init_pred);
  else
    report.init = report.before;
  // The SMT stage starts from the better of round to nearest and the init on the repair set,
  // by the --target measure: a cut-short init can be worse than either.
  auto score = [&](const StageFigures& f) { return TargetMeasure(f.repair, o.repair.target); };
  if (o.init != InitMethod::kRtn && score(report.init) < score(report.before)) {
    spdlog::warn(
        "init {}: {} on the repair set fell from {:.2f} % to {:.2f} %; the SMT stage "
        "starts from round to nearest",
        report.init_method, o.repair.target == RepairTarget::kLabels ? "accuracy" : "agreement",
        100 * score(report.before), 100 * score(report.init));
    start = model.quantized;
    init_pred = before_pred;
    report.start = "rtn";
  }
  const EvalSummary& at_start = (report.start == "rtn" ? report.before : report.init).repair;
  spdlog::info("start ({}): repair agreement {:.2f} %, {} failing samples", report.start,
               100 * at_start.agreement,
               std::llround(static_cast<double>(at_start.samples) * (1 - at_start.agreement)));

  RepairOptions ro = o.repair;
  if (guard_inputs > 0) ro.guard = augmented.rightCols(guard_inputs);
  augmented = FloatBatch();
  const double spent =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  ro.time_limit_seconds = std::max(
      0.0, o.repair.time_limit_seconds - spent - (2.5 + guard_share) * measure_seconds - 1.0);
  RepairResult rr = RunRepair(model.float_network, start, repair, ro, progress);
  report.changes = rr.changes;
  report.solver = rr.solver;
  report.rounds = rr.rounds;

  // The written bytes are what is verified: serialize, parse back, re-run the reference pass.
  ModelFile out = model;
  out.quantized = rr.network;
  out.provenance.created_by = "repair";
  out.provenance.tool_version = kVersion;
  out.provenance.source_model = o.model;
  out.provenance.source_sha256 = report.model_sha256;
  std::string bytes = ModelFileToJson(out).dump(1) + "\n";
  ModelFile reread = ModelFileFromJson(nlohmann::json::parse(bytes), o.output);
  Predictions after_pred;
  report.after = Measure(reread.float_network, reread.quantized, repair, holdout_ptr, &after_pred);

  // Re-check every claim against the reference pass.
  std::vector<int> target =
      o.repair.target == RepairTarget::kFloat ? after_pred.float_top1 : repair.labels;
  int64_t right_after = 0;
  std::map<std::pair<int, int>, int64_t> confusions;
  for (size_t s = 0; s < target.size(); ++s) {
    bool was = before_pred.quant_top1[s] == target[s];
    bool now = after_pred.quant_top1[s] == target[s];
    bool at_start = init_pred.quant_top1[s] == target[s];
    report.stage_fixed += !at_start && now;
    report.stage_broken += at_start && !now;
    right_after += now;
    report.fixed += !was && now;
    report.broken += was && !now;
    if (!was && now) ++confusions[{before_pred.quant_top1[s], after_pred.quant_top1[s]}];
  }
  for (const auto& c : confusions) report.fixed_confusions.push_back(c);
  // The guard set's agreement in the written network, from the reference pass.
  report.guard.inputs = rr.guard_samples;
  report.guard.agree_before = rr.guard_right_before;
  report.guard.refused = rr.guard_refused;
  if (rr.guard_samples > 0) {
    const Predictions p = Predict(reread.float_network, reread.quantized, ro.guard);
    for (size_t s = 0; s < p.float_top1.size(); ++s)
      report.guard.agree_after += p.float_top1[s] == p.quant_top1[s];
  }
  bool claims_hold = right_after == rr.right_after && report.stage_broken == rr.broken &&
                     report.guard.agree_after == rr.guard_right_after;
  bool broken_ok = o.repair.allow_broken || report.stage_broken == 0;
  report.verified = claims_hold && broken_ok;
  report.verification_note =
      claims_hold
          ? "the reference integer pass over the written network confirms " +
                std::to_string(right_after) + " of " + std::to_string(target.size()) +
                " repair samples right; the SMT stage fixed " + std::to_string(report.stage_fixed) +
                " and broke " + std::to_string(report.stage_broken) +
                " samples that were right when it started"
          : "MISMATCH: the engine claimed " + std::to_string(rr.right_after) + " right and " +
                std::to_string(rr.broken) + " broken (" + std::to_string(rr.guard_right_after) +
                " guard inputs agreeing), the reference pass finds " + std::to_string(right_after) +
                " and " + std::to_string(report.stage_broken) + " (" +
                std::to_string(report.guard.agree_after) + ")";
  if (!report.verified) {
    throw InternalError("repair result failed verification: " + report.verification_note);
  }

  if (rr.interrupted) {
    report.status = "interrupted";
    result.code = ExitCode::kInterrupted;
  } else if (rr.right_after <= rr.right_before &&
             report.after.repair.agreement <= report.before.repair.agreement &&
             (!report.after.repair.has_labels ||
              report.after.repair.quant_accuracy <= report.before.repair.quant_accuracy)) {
    report.status = "no_improvement";
    result.code = ExitCode::kNoImprovement;
  } else if (rr.limit_reached || !init_summary.complete) {
    report.status = "limit_reached";
    result.code = ExitCode::kLimitReached;
  } else {
    report.status = "repaired";
  }
  nlohmann::json echo = o.echo;
  report.options = &echo;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  // Everything is rendered before the first file is written.
  const std::vector<ExtraOutput> extra =
      o.render_extra ? o.render_extra(reread, report) : std::vector<ExtraOutput>{};
  const std::string report_json = o.report_json.empty() ? "" : ReportToJson(report).dump(2) + "\n";
  const std::string report_md = o.report_md.empty() ? "" : ReportToMarkdown(report);
  WriteFileAtomic(o.output, bytes);
  if (!o.report_json.empty()) WriteFileAtomic(o.report_json, report_json);
  if (!o.report_md.empty()) WriteFileAtomic(o.report_md, report_md);
  WriteExtraOutputs(extra);
  report.options = nullptr;
  result.repaired = std::move(reread);
  return result;
}

}  // namespace qrepair
