// The repair job: the pipeline from files to a verified repaired network and its report.
#include "qrepair/repair/repair_job.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "qrepair/io/atomic_file.h"
#include "qrepair/io/json_io.h"
#include "qrepair/io/model_source.h"
#include "qrepair/quant/evaluate.h"
#include "qrepair/repair/pipeline.h"
#include "qrepair/repair/property_repair.h"
#include "qrepair/verify/local_robustness.h"
#include "qrepair/verify/vnnlib.h"
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
// (docs/benchmarks.md). Writing the outputs and the process's exit come after the report's
// clock stops: 1 % of the limit more is kept for them (mnist-net_256x6, --time-limit 120 and the
// defaults ended at 120.2 s wall with only the second).
struct JobReserves {
  double before_init, before_smt;
};
JobReserves Reserves(double pass_seconds, double guard_share, double job_seconds) {
  const double finish = 1.0 + 0.01 * job_seconds;
  return {(3.5 + guard_share) * pass_seconds + finish, (2.5 + guard_share) * pass_seconds + finish};
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

// --robust-radius: one "the decision is not the target" property per repair row of the robust
// range that `net` classifies right, over the box of the L-infinity ball (local_robustness.h;
// the box holds every grid point of the ball, so a proof over it certifies the grid too).
std::vector<Property> RobustProperties(const RepairJobOptions& o, const Network& float_net,
                                       const QuantizedNetwork& net, const Dataset& repair,
                                       RepairTarget target, RepairReport::Robustness& rb) {
  if (!(o.data.input_scale > 0))
    throw Error(ExitCode::kUsage, "--input-scale must be > 0 with --robust-radius");
  RowRange range = o.has_robust_range ? o.robust_range : RowRange{repair.first_row, -1};
  if (range.end < 0) range.end = repair.first_row + repair.rows;
  if (range.begin < repair.first_row || range.end > repair.first_row + repair.rows) {
    throw Error(ExitCode::kUsage,
                "--robust-range " + std::to_string(range.begin) + ":" + std::to_string(range.end) +
                    " is not inside the repair rows " + std::to_string(repair.first_row) + ":" +
                    std::to_string(repair.first_row + repair.rows));
  }
  RawInputMap map;
  map.scale = o.data.input_scale;
  map.offset = o.data.input_offset;
  map.integer_grid = std::all_of(repair.values.begin(), repair.values.end(),
                                 [&](float x) { return RawFromInput(map, x).has_value(); });
  if (auto typed = RawTypeRange(o.data.data_path)) {
    std::tie(map.clip_lo, map.clip_hi) = *typed;
  } else {  // the observed raw range of the repair rows (the map is monotone)
    const auto [lo, hi] = std::minmax_element(repair.values.begin(), repair.values.end());
    map.clip_lo = (*lo - map.offset) / map.scale;
    map.clip_hi = (*hi - map.offset) / map.scale;
  }
  const Dataset rows = repair.Slice(range.begin - repair.first_row, range.end - repair.first_row);
  const Predictions p = Predict(float_net, net, rows);
  const std::vector<int>& want = target == RepairTarget::kFloat ? p.float_top1 : rows.labels;
  rb.radius = o.robust_radius;
  rb.samples = rows.rows;
  std::vector<Property> out;
  for (int64_t r = 0; r < rows.rows; ++r) {
    if (p.quant_top1[r] != want[r]) continue;
    std::vector<double> raw(rows.features);
    for (int64_t i = 0; i < rows.features; ++i) {
      const float x = rows.Row(r)[i];
      raw[i] = RawFromInput(map, x).value_or((x - map.offset) / map.scale);
    }
    const RawBall ball = MakeRawBall(map, raw, o.robust_radius);
    Property prop =
        DecisionChangeProperty(net.NumClasses(), want[r], net.decision, InputBoxOfBall(map, ball),
                               "robust_row_" + std::to_string(rows.first_row + r));
    prop.source = o.data.data_path + " row " + std::to_string(rows.first_row + r);
    out.push_back(std::move(prop));
  }
  rb.right = static_cast<int64_t>(out.size());
  return out;
}

// Repair until proved: 0 only when every property holds on the written file; 9 when one is
// violated (a checked counterexample), 5 when one is undecided, 130 when interrupted.
ExitCode PropertyExitCode(RepairReport& report, ExitCode accuracy_code, bool stopped) {
  if (stopped || accuracy_code == ExitCode::kInterrupted) {
    report.status = "interrupted";
    return ExitCode::kInterrupted;
  }
  bool violated = false, unknown = false;
  for (const PropertyOutcome& p : report.properties) {
    violated |= p.after == Verdict::kViolated;
    unknown |= p.after == Verdict::kUnknown;
  }
  violated |= report.robustness.violated_after > 0;
  unknown |= report.robustness.unknown_after > 0;
  if (violated) {
    report.status = "property_violated";
    return ExitCode::kViolated;
  }
  if (unknown) {
    report.status = "property_unknown";
    return ExitCode::kLimitReached;
  }
  report.status = "proved";
  return ExitCode::kSuccess;
}

// Repair until proved, after the accuracy stage: every repair sample the accuracy stage left
// right is kept right (checked on the written file), the properties are re-verified on the
// parsed file, and the report's "after" figures are re-measured on it.
struct PropertyStageResult {
  std::string bytes;
  ModelFile written;
};
PropertyStageResult RunPropertyStage(const RepairJobOptions& o, const ModelFile& model,
                                     const RepairData& data, const RepairOptions& ro,
                                     const std::vector<Property>& properties,
                                     size_t file_properties, const QuantizedNetwork& accuracy_net,
                                     const Predictions& rtn_pred, const Predictions& start_pred,
                                     const Budget& budget, RepairReport& report) {
  const auto begin = std::chrono::steady_clock::now();
  KeptSamples kept;
  kept.codes = QuantizeInput(accuracy_net, InputBatch(data.repair));
  const Predictions at_start = Predict(model.float_network, accuracy_net, data.repair);
  kept.target = ro.target == RepairTarget::kFloat ? at_start.float_top1 : data.repair.labels;
  PropertyRepairOptions po;
  po.max_rounds = ro.max_rounds;
  po.neurons = ro.neurons;
  po.layers = ro.layers;
  po.build = ro.build;
  po.solver = ro.solver;
  po.jobs = ro.jobs;
  po.verify.time_limit_seconds = o.property_seconds;
  po.verify.memory_limit_mb = o.limits.call_memory_mb;
  po.verify.jobs = ro.jobs;
  // The re-verification of the written file needs time too: the stage leaves it a share.
  const double left = budget.SecondsLeft();
  const double reverify =
      std::min(left / 3, o.property_seconds * static_cast<double>(properties.size()));
  PropertyRepairResult pr =
      RepairProperties(accuracy_net, properties, kept, po, budget.Reserve(reverify));
  const size_t first_change = report.changes.size();
  for (NeuronChange c : pr.changes) {
    c.round += report.rounds;  // after the accuracy stage's rounds
    report.changes.push_back(std::move(c));
  }
  report.solver.problems += pr.solver.problems;
  report.solver.checks += pr.solver.checks;
  report.solver.sat += pr.solver.sat;
  report.solver.unsat += pr.solver.unsat;
  report.solver.unknown += pr.solver.unknown;
  report.solver.seconds += pr.solver.seconds;
  report.solver.work += pr.solver.work;
  RepairReport::PropertyStage& st = report.property_stage;
  st.rounds = pr.rounds;
  st.stopped = pr.stopped;
  st.counterexamples = pr.counterexamples;
  st.counterexamples_fixed = pr.counterexamples_fixed;
  st.widenings = pr.widenings;
  st.neurons = report.changes.size() - first_change;

  PropertyStageResult out;
  out.bytes = RepairedModelBytes(model, pr.network, o, report.model_sha256);
  out.written = ModelFileFromJson(nlohmann::json::parse(out.bytes), o.output);
  const QuantizedNetwork& written = out.written.quantized;
  // The reference pass over the parsed file: no repair sample right before the stage is wrong.
  Predictions after_pred;
  report.after =
      Measure(out.written.float_network, written, data.repair, data.Holdout(), &after_pred);
  for (size_t s = 0; s < kept.target.size(); ++s) {
    if (at_start.quant_top1[s] == kept.target[s] && after_pred.quant_top1[s] != kept.target[s]) {
      throw InternalError("property repair broke repair sample " + std::to_string(s) +
                          " (the reference pass over the written network)");
    }
  }
  // The report's sample counts, re-counted on the written network.
  const std::vector<int>& target =
      ro.target == RepairTarget::kFloat ? after_pred.float_top1 : data.repair.labels;
  report.fixed = report.broken = report.stage_fixed = report.stage_broken = 0;
  for (size_t s = 0; s < target.size(); ++s) {
    const bool was = rtn_pred.quant_top1[s] == target[s];
    const bool now = after_pred.quant_top1[s] == target[s];
    const bool at_smt_start = start_pred.quant_top1[s] == target[s];
    report.fixed += !was && now;
    report.broken += was && !now;
    report.stage_fixed += !at_smt_start && now;
    report.stage_broken += at_smt_start && !now;
  }
  if (report.guard.inputs > 0) {
    const Predictions g = Predict(out.written.float_network, written, ro.guard);
    report.guard.agree_after = 0;
    for (size_t s = 0; s < g.float_top1.size(); ++s)
      report.guard.agree_after += g.float_top1[s] == g.quant_top1[s];
  }
  // Every verdict reported is the parsed file's: a "holds" of the stage is proved again.
  std::vector<PropertyOutcome> outcomes = pr.properties;
  for (size_t i = 0; i < properties.size(); ++i) {
    PropertyOutcome& p = outcomes[i];
    VerifyOptions vo = po.verify;
    vo.time_limit_seconds = std::max(0.0, std::min(o.property_seconds, budget.SecondsLeft()));
    vo.stop = budget.stop();
    const VerifyResult v = vo.time_limit_seconds > 0 && !budget.Stopped()
                               ? VerifyProperty(written, properties[i], vo)
                               : VerifyResult{};
    if (p.after == Verdict::kHolds && v.verdict == Verdict::kViolated) {
      throw InternalError("property " + p.name +
                          " was proved on the repaired network but is violated in the written "
                          "file");
    }
    p.after = v.verdict;
    p.reason = v.verdict == Verdict::kUnknown
                   ? (v.reason.empty() ? std::string("no time left to re-verify") : v.reason)
                   : "";
    p.last_counterexample = v.counterexample;
    p.seconds += v.seconds;
  }
  report.properties.assign(outcomes.begin(), outcomes.begin() + static_cast<long>(file_properties));
  RepairReport::Robustness& rb = report.robustness;
  for (size_t i = file_properties; i < outcomes.size(); ++i) {
    rb.certified_before += outcomes[i].before == Verdict::kHolds;
    rb.certified_after += outcomes[i].after == Verdict::kHolds;
    rb.violated_after += outcomes[i].after == Verdict::kViolated;
    rb.unknown_after += outcomes[i].after == Verdict::kUnknown;
  }
  st.seconds = SecondsSince(begin);
  report.verification_note += "; the property stage kept every repair sample that was right";
  return out;
}

}  // namespace

RepairJobResult RunRepairJob(const RepairJobOptions& o, const JobProgressFn& progress) {
  const auto begin = std::chrono::steady_clock::now();
  const Budget budget = Budget::Start(o.limits, o.stop);
  std::vector<std::string> inputs = {o.model, o.config, o.data.data_path, o.data.labels_path};
  inputs.insert(inputs.end(), o.properties.begin(), o.properties.end());
  for (const std::string* out : {&o.output, &o.report_json, &o.report_md})
    RefuseOverwritingInputs(*out, inputs, o.force);
  std::vector<Property> properties;  // parsed before any work: a bad file is exit 3 at once
  for (const std::string& path : o.properties) properties.push_back(ParseVnnlib(path));
  const size_t file_properties = properties.size();
  const RepairData data = LoadRepairData(
      o.data, o.repair_range,
      o.has_holdout ? std::optional<RowRange>(o.holdout_range) : std::nullopt, o.repair.target);
  const ModelFile model = OpenModel(o.model, o.config, data.repair);
  CheckLabelClasses(data.holdout, model.float_network.NumClasses());
  CheckRepairable(model.quantized);  // before the init's work, not only in RunRepair after it
  // An integer network with no float network behind it (a fixed-point design): the labels are
  // the only target, and the given network is the start (no init re-derives it from a float one).
  const bool integer_only = model.float_network.stand_in;
  if (integer_only && o.repair.target == RepairTarget::kFloat) {
    throw Error(ExitCode::kUsage, o.model +
                                      " has no float network behind it: repair it against the "
                                      "labels (--target labels)");
  }
  const InitMethod init = integer_only ? InitMethod::kRtn : o.init;
  RepairJobResult result;
  RepairReport& report = result.report;
  report.model = o.model;
  report.model_sha256 = Sha256File(o.model);
  report.tool_version = kVersion;
  report.init_method = InitMethodName(init);
  Predictions rtn_pred;
  const auto measure_begin = std::chrono::steady_clock::now();
  report.before =
      Measure(model.float_network, model.quantized, data.repair, data.Holdout(), &rtn_pred);
  const double pass_seconds = SecondsSince(measure_begin);

  const FloatBatch repair_inputs = InputBatch(data.repair);
  // Without a float network there is no init to calibrate and no agreement for a guard set.
  const Augmentation augment =
      integer_only ? ResolveAugmentation(ParseAugmentation("none"), data.repair.sample_shape,
                                         model.float_network.input_shape, &report.augment_reason)
                   : ResolveAugmentation(o.augment, data.repair.sample_shape,
                                         model.float_network.input_shape, &report.augment_reason);
  if (integer_only) {
    report.augment_reason =
        "no float network behind the model: no init to calibrate, no agreement to guard";
  }
  report.augment = AugmentationName(augment);
  FloatBatch augmented =
      AugmentCalibration(repair_inputs, augment, model.float_network.input_shape);
  const int64_t guard_inputs = o.guard ? augmented.cols() - repair_inputs.cols() : 0;
  const JobReserves reserve =
      Reserves(pass_seconds,
               static_cast<double>(guard_inputs) /
                   static_cast<double>(std::max<int64_t>(
                       1, data.repair.rows + (data.has_holdout ? data.holdout.rows : 0))),
               o.limits.job_seconds);
  // The init searches the weight scales unless the config names them (a quantized model file
  // keeps the scales it has: its config is the record of how it was made).
  const QuantizedNetwork init_base =
      ScaledInitBase(model.float_network, model.quantized, repair_inputs, init, o.config.empty(),
                     &report.init_scales);
  const StartPoint start = InitAndChooseStart(
      model.float_network, model.quantized, data, report.before, rtn_pred, augmented, init,
      o.repair.target, budget.Reserve(reserve.before_init), &init_base);
  report.init = start.init_figures;
  report.init_seconds = start.init_seconds;
  report.init_layers = start.init.layers;
  report.init_layers_done = start.init.rerounded;
  report.start = start.from;

  RepairOptions ro = o.repair;
  if (guard_inputs > 0) ro.guard = augmented.rightCols(guard_inputs);
  augmented = FloatBatch();
  // With properties, the accuracy stage leaves half of its time to the property stage.
  const double property_share = properties.empty() && !(o.robust_radius > 0)
                                    ? 0.0
                                    : std::max(0.0, budget.SecondsLeft() - reserve.before_smt) / 2;
  const RepairResult rr = RunRepair(model.float_network, start.network, data.repair, ro,
                                    budget.Reserve(reserve.before_smt + property_share),
                                    [&](int done, int total, int64_t right) {
                                      if (progress)
                                        progress(done, total, right, budget.SecondsLeft());
                                    });
  report.changes = rr.changes;
  report.solver = rr.solver;
  report.rounds = rr.rounds;
  report.stopped = rr.stopped;

  // The written bytes are what is checked: serialize, parse back, re-run the reference pass.
  std::string bytes = RepairedModelBytes(model, rr.network, o, report.model_sha256);
  ModelFile reread = ModelFileFromJson(nlohmann::json::parse(bytes), o.output);
  CheckRepairClaims(reread.float_network, reread.quantized, data, ro, rtn_pred,
                    start.repair_predictions, rr, report);
  result.code = ClassifyOutcome(rr, start.init.complete, report);
  if (o.robust_radius > 0) {
    std::vector<Property> robust = RobustProperties(o, model.float_network, rr.network, data.repair,
                                                    ro.target, report.robustness);
    properties.insert(properties.end(), std::make_move_iterator(robust.begin()),
                      std::make_move_iterator(robust.end()));
  }
  if (!properties.empty()) {
    PropertyStageResult ps =
        RunPropertyStage(o, model, data, ro, properties, file_properties, rr.network, rtn_pred,
                         start.repair_predictions, budget.Reserve(reserve.before_smt / 2), report);
    bytes = std::move(ps.bytes);
    reread = std::move(ps.written);
    result.code = PropertyExitCode(report, result.code, budget.Stopped());
  }
  nlohmann::json echo = o.echo;
  report.options = &echo;
  report.seconds = SecondsSince(begin);
  WriteJobOutputs(o, bytes, reread, report);
  report.options = nullptr;
  result.repaired = std::move(reread);
  return result;
}

}  // namespace qrepair
