// The repair stages shared by the repair job and the sweep (see pipeline.h).
#include "qrepair/repair/pipeline.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <map>

#include "qrepair/quant/quantize.h"

namespace qrepair {

RepairData LoadRepairData(const DataOptions& data, const RowRange& repair_range,
                          const std::optional<RowRange>& holdout_range, RepairTarget target) {
  RepairData out;
  DataOptions d = data;
  d.range = repair_range;
  out.repair = LoadDataset(d);
  if (holdout_range) {
    d.range = *holdout_range;
    out.holdout = LoadDataset(d);
    out.has_holdout = true;
  }
  if (target == RepairTarget::kLabels && !out.repair.HasLabels()) {
    throw Error(ExitCode::kUsage, "--target labels needs --labels");
  }
  return out;
}

StageFigures Measure(const Network& f, const QuantizedNetwork& q, const Dataset& repair,
                     const Dataset* holdout, Predictions* repair_predictions) {
  StageFigures s;
  Predictions p = Predict(f, q, repair);
  s.repair = Summarize(p, f.NumClasses());
  if (repair_predictions) *repair_predictions = p;
  if (holdout) s.holdout = Summarize(Predict(f, q, *holdout), f.NumClasses());
  return s;
}

StartPoint InitAndChooseStart(const Network& float_net, const QuantizedNetwork& rtn,
                              const RepairData& data, const StageFigures& rtn_figures,
                              const Predictions& rtn_predictions, const FloatBatch& calibration,
                              InitMethod init, RepairTarget target, const Budget& init_budget,
                              const QuantizedNetwork* init_base) {
  StartPoint s;
  const auto begin = std::chrono::steady_clock::now();
  const auto should_stop = [&] { return init_budget.Stopped() || init_budget.TimeUp(); };
  s.network = InitializeWeights(float_net, init_base ? *init_base : rtn, calibration, init,
                                should_stop, 1024, &s.init);
  s.init_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  s.figures = rtn_figures;
  s.repair_predictions = rtn_predictions;
  if (init == InitMethod::kRtn) {
    s.from = "rtn";
  } else {
    s.figures = Measure(float_net, s.network, data.repair, data.Holdout(), &s.repair_predictions);
  }
  s.init_figures = s.figures;
  const auto score = [&](const StageFigures& f) { return TargetMeasure(f.repair, target); };
  if (init != InitMethod::kRtn && score(s.figures) < score(rtn_figures)) {
    spdlog::warn(
        "init {}: {} on the repair set fell from {:.2f} % to {:.2f} %; the SMT stage "
        "starts from round to nearest",
        InitMethodName(init), target == RepairTarget::kLabels ? "accuracy" : "agreement",
        100 * score(rtn_figures), 100 * score(s.figures));
    s.network = rtn;
    s.figures = rtn_figures;
    s.repair_predictions = rtn_predictions;
    s.from = "rtn";
  }
  const EvalSummary& at_start = s.figures.repair;
  spdlog::info("start ({}): repair agreement {:.2f} %, {} failing samples", s.from,
               100 * at_start.agreement,
               std::llround(static_cast<double>(at_start.samples) * (1 - at_start.agreement)));
  return s;
}

QuantizedNetwork ScaledInitBase(const Network& float_net, const QuantizedNetwork& rtn,
                                const FloatBatch& calibration, InitMethod init, bool keep_rules,
                                std::string* rule) {
  *rule = "as the config";
  if (keep_rules || init == InitMethod::kRtn) return rtn;
  QuantConfig config = rtn.config;
  bool changed = false;
  const auto search = [&](LayerQuantSpec& spec) {
    if (spec.scale_given || spec.scale_rule == ScaleRule::kMse) return;
    spec.scale_rule = ScaleRule::kMse;
    changed = true;
  };
  search(config.defaults);
  for (auto& [name, spec] : config.layers) search(spec);
  if (!changed) return rtn;
  *rule = "mse (searched: the config names no scale)";
  return QuantizeNetwork(float_net, config, calibration, rtn.name);
}

void CheckRepairClaims(const Network& float_net, const QuantizedNetwork& written,
                       const RepairData& data, const RepairOptions& o,
                       const Predictions& rtn_predictions, const Predictions& start_predictions,
                       const RepairResult& rr, RepairReport& report) {
  Predictions after_pred;
  report.after = Measure(float_net, written, data.repair, data.Holdout(), &after_pred);
  const std::vector<int>& target =
      o.target == RepairTarget::kFloat ? after_pred.float_top1 : data.repair.labels;
  int64_t right_after = 0;
  std::map<std::pair<int, int>, int64_t> confusions;
  for (size_t s = 0; s < target.size(); ++s) {
    const bool was = rtn_predictions.quant_top1[s] == target[s];
    const bool now = after_pred.quant_top1[s] == target[s];
    const bool at_start = start_predictions.quant_top1[s] == target[s];
    report.stage_fixed += !at_start && now;
    report.stage_broken += at_start && !now;
    right_after += now;
    report.fixed += !was && now;
    report.broken += was && !now;
    if (!was && now) ++confusions[{rtn_predictions.quant_top1[s], after_pred.quant_top1[s]}];
  }
  for (const auto& c : confusions) report.fixed_confusions.push_back(c);
  // The guard set's agreement in the written network, from the reference pass.
  report.guard.inputs = rr.guard_samples;
  report.guard.agree_before = rr.guard_right_before;
  report.guard.refused = rr.guard_refused;
  if (rr.guard_samples > 0) {
    const Predictions p = Predict(float_net, written, o.guard);
    for (size_t s = 0; s < p.float_top1.size(); ++s)
      report.guard.agree_after += p.float_top1[s] == p.quant_top1[s];
  }
  const bool claims_hold = right_after == rr.right_after && report.stage_broken == rr.broken &&
                           report.guard.agree_after == rr.guard_right_after;
  const bool broken_ok = o.allow_broken || report.stage_broken == 0;
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
}

ExitCode ClassifyOutcome(const RepairResult& rr, bool init_complete, RepairReport& report) {
  const EvalSummary& before = report.before.repair;
  const EvalSummary& after = report.after.repair;
  if (rr.interrupted) {
    report.status = "interrupted";
    return ExitCode::kInterrupted;
  }
  if (rr.right_after <= rr.right_before && after.agreement <= before.agreement &&
      (!after.has_labels || after.quant_accuracy <= before.quant_accuracy)) {
    report.status = "no_improvement";
    return ExitCode::kNoImprovement;
  }
  if (rr.limit_reached || !init_complete) {
    report.status = "limit_reached";
    return ExitCode::kLimitReached;
  }
  report.status = "repaired";
  return ExitCode::kSuccess;
}

}  // namespace qrepair
