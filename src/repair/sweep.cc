// The bit-width sweep: quantize, initialize and repair at each width; measure with Predict.
#include "qrepair/repair/sweep.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "qrepair/error.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"
#include "qrepair/repair/pipeline.h"
#include "qrepair/report/svg_plot.h"

namespace qrepair {

namespace {

int ParseBits(const std::string& text, const std::string& flag) {
  int v = 0;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || stop != end || text.empty() || v < 2 || v > 16) {
    throw Error(ExitCode::kUsage, flag + ": '" + text + "' is not a bit width in 2..16");
  }
  return v;
}

std::string RangeText(const RowRange& r) {
  return std::to_string(r.begin) + ":" + (r.end < 0 ? std::string() : std::to_string(r.end));
}

// Accuracy with labels, agreement with float without them (in %).
double Headline(const EvalSummary& s, bool float_net = false) {
  if (!s.has_labels) return float_net ? 100.0 : 100 * s.agreement;
  return 100 * (float_net ? s.float_accuracy : s.quant_accuracy);
}

}  // namespace

std::vector<int> ParseBitList(const std::string& text, const std::string& flag) {
  std::vector<int> bits;
  size_t dots = text.find("..");
  if (dots != std::string::npos) {
    int lo = ParseBits(text.substr(0, dots), flag), hi = ParseBits(text.substr(dots + 2), flag);
    if (hi < lo) throw Error(ExitCode::kUsage, flag + ": '" + text + "' is an empty range");
    for (int b = lo; b <= hi; ++b) bits.push_back(b);
    return bits;
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    bits.push_back(ParseBits(
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start), flag));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return bits;
}

SweepResult RunSweep(const SweepOptions& o, const SweepProgressFn& progress) {
  if (o.bits.empty()) throw Error(ExitCode::kUsage, "--bits: no bit widths given");
  const RepairData data = LoadRepairData(
      o.data, o.repair_range,
      o.has_holdout ? std::optional<RowRange>(o.holdout_range) : std::nullopt, o.repair.target);
  Network net = LoadFloatNetwork(o.model);
  OrientForDecision(net, o.decision, o.model);
  if (net.input_shape.Size() != data.repair.features) {
    throw BadInput(data.repair.source, "",
                   "samples have " + std::to_string(data.repair.features) + " features, but " +
                       o.model + " expects " + std::to_string(net.input_shape.Size()));
  }
  CheckLabelClasses(data.repair, net.NumClasses());
  CheckLabelClasses(data.holdout, net.NumClasses());
  SweepResult result;
  result.model = o.model;
  result.measured_on = (o.has_holdout ? "holdout rows " : "repair rows ") +
                       RangeText(o.has_holdout ? o.holdout_range : o.repair_range);
  result.has_labels = (o.has_holdout ? data.holdout : data.repair).HasLabels();
  result.init_method = InitMethodName(o.init);
  const FloatBatch calibration = InputBatch(data.repair);
  // What the sweep reports: the holdout rows' figures when there are any, else the repair rows'.
  const auto measured = [&](const StageFigures& f) { return o.has_holdout ? f.holdout : f.repair; };
  for (size_t i = 0; i < o.bits.size(); ++i) {
    if (o.stop && o.stop->load()) break;
    if (progress) progress(static_cast<int>(i), static_cast<int>(o.bits.size()), o.bits[i]);
    // Each width has the whole --time-limit: the init stops at its deadline (or on a signal)
    // with the layers it finished, and the repair gets what is left.
    const Budget budget = Budget::Start(o.limits, o.stop);
    SweepRow row;
    row.bits = o.bits[i];
    QuantConfig config;
    config.defaults.weight_bits = row.bits;
    config.defaults.granularity = o.granularity;
    config.defaults.scale_rule = o.scale_rule;
    config.activation_bits = o.activation_bits;
    config.decision = o.decision;
    const QuantizedNetwork rtn = QuantizeNetwork(net, config, calibration, o.model);
    RepairReport report;
    Predictions rtn_pred;
    report.before = Measure(net, rtn, data.repair, data.Holdout(), &rtn_pred);
    // Without --scale the init searches the weight scales; round to nearest stays max-abs.
    std::string init_scales;
    const QuantizedNetwork init_base =
        ScaledInitBase(net, rtn, calibration, o.init, o.scale_given, &init_scales);
    const StartPoint start =
        InitAndChooseStart(net, rtn, data, report.before, rtn_pred, calibration, o.init,
                           o.repair.target, budget, &init_base);
    const RepairResult rr = RunRepair(net, start.network, data.repair, o.repair, budget);
    CheckRepairClaims(net, rr.network, data, o.repair, rtn_pred, start.repair_predictions, rr,
                      report);
    ClassifyOutcome(rr, start.init.complete, report);
    row.rtn = measured(report.before);
    row.start = measured(start.init_figures);
    row.start_from = start.from;
    row.repaired = measured(report.after);
    row.neurons_repaired = static_cast<int>(rr.changes.size());
    for (const NeuronChange& c : rr.changes)
      row.weights_changed += static_cast<int64_t>(c.changes.size());
    row.status = report.status;
    row.seconds = o.limits.job_seconds - budget.SecondsLeft();
    spdlog::info(
        "{} bits: float {:.2f} %, round-to-nearest {:.2f} %, {} {:.2f} %, repaired {:.2f} % ({}, "
        "{:.1f} s)",
        row.bits, Headline(row.rtn, true), Headline(row.rtn), result.init_method,
        Headline(row.start), Headline(row.repaired), row.status, row.seconds);
    result.rows.push_back(row);
  }
  return result;
}

std::string SweepMarkdown(const SweepResult& r) {
  const char* what = r.has_labels ? "accuracy" : "top-1 agreement with float";
  std::string out = "Weight bit width sweep of " + r.model + ": " + what + " (%) on " +
                    r.measured_on + "; agreement = top-1 agreement with the float network.\n\n";
  out += "| bits | float | round-to-nearest | agreement | start (" + r.init_method +
         ") | agreement | repaired | "
         "agreement | neurons | weights | status | seconds "
         "|\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n";
  for (const SweepRow& row : r.rows) {
    char line[512];
    std::snprintf(
        line, sizeof line,
        "| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %lld | %s | %.1f |\n",
        row.bits, Headline(row.rtn, true), Headline(row.rtn), 100 * row.rtn.agreement,
        Headline(row.start), 100 * row.start.agreement, Headline(row.repaired),
        100 * row.repaired.agreement, row.neurons_repaired,
        static_cast<long long>(row.weights_changed),
        (row.status + (row.start_from == "rtn" && r.init_method != "rtn" ? ", from rtn" : ""))
            .c_str(),
        row.seconds);
    out += line;
  }
  return out;
}

std::string SweepSvg(const SweepResult& r) {
  LineChart chart;
  chart.title = "Accuracy vs weight bit width (" + r.measured_on + ")";
  chart.x_label = "weight bits";
  chart.y_label = r.has_labels ? "accuracy (%)" : "top-1 agreement with float (%)";
  chart.integer_x = true;
  LineSeries flt{"float", {}, {}}, rtn{"round-to-nearest", {}, {}},
      start{"start (" + r.init_method + ")", {}, {}}, repaired{"repaired", {}, {}};
  for (const SweepRow& row : r.rows) {
    for (LineSeries* s : {&flt, &rtn, &start, &repaired}) s->x.push_back(row.bits);
    flt.y.push_back(Headline(row.rtn, true));
    rtn.y.push_back(Headline(row.rtn));
    start.y.push_back(Headline(row.start));
    repaired.y.push_back(Headline(row.repaired));
  }
  chart.series = {flt, rtn};
  if (r.init_method != "rtn") chart.series.push_back(start);
  chart.series.push_back(repaired);
  return RenderLineChart(chart);
}

void to_json(nlohmann::json& j, const SweepResult& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const SweepRow& row : r.rows) {
    rows.push_back({{"bits", row.bits},
                    {"float_accuracy", r.has_labels ? nlohmann::json(row.rtn.float_accuracy)
                                                    : nlohmann::json(nullptr)},
                    {"round_to_nearest", row.rtn},
                    {"start", row.start},
                    {"start_from", row.start_from},
                    {"repaired", row.repaired},
                    {"neurons_repaired", row.neurons_repaired},
                    {"weights_changed", row.weights_changed},
                    {"status", row.status},
                    {"seconds", row.seconds}});
  }
  j = {{"model", r.model}, {"measured_on", r.measured_on}, {"init", r.init_method}, {"rows", rows}};
}

}  // namespace qrepair
