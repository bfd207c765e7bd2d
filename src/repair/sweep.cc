// The bit-width sweep: quantize, initialize and repair at each width; measure with Predict.
#include "qrepair/repair/sweep.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "qrepair/error.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"
#include "qrepair/report/svg_plot.h"

namespace qrepair {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int ParseBits(const std::string& text, const std::string& flag) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || v < 2 || v > 16) {
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
  DataOptions d = o.data;
  d.range = o.repair_range;
  Dataset repair = LoadDataset(d);
  Dataset holdout;
  if (o.has_holdout) {
    d.range = o.holdout_range;
    holdout = LoadDataset(d);
  }
  const Dataset& measured = o.has_holdout ? holdout : repair;
  Network net = LoadFloatNetwork(o.model);
  OrientForDecision(net, o.decision, o.model);
  if (net.input_shape.Size() != repair.features) {
    throw BadInput(repair.source, "",
                   "samples have " + std::to_string(repair.features) + " features, but " + o.model +
                       " expects " + std::to_string(net.input_shape.Size()));
  }
  if (o.repair.target == RepairTarget::kLabels && !repair.HasLabels()) {
    throw Error(ExitCode::kUsage, "--target labels needs --labels");
  }
  SweepResult result;
  result.model = o.model;
  result.measured_on = (o.has_holdout ? "holdout rows " : "repair rows ") +
                       RangeText(o.has_holdout ? o.holdout_range : o.repair_range);
  result.has_labels = measured.HasLabels();
  result.init_method = InitMethodName(o.init);
  const FloatBatch calibration = InputBatch(repair);
  const int classes = net.NumClasses();
  for (size_t i = 0; i < o.bits.size(); ++i) {
    if (o.repair.stop && o.repair.stop->load()) break;
    if (progress) progress(static_cast<int>(i), static_cast<int>(o.bits.size()), o.bits[i]);
    const auto begin = Clock::now();
    SweepRow row;
    row.bits = o.bits[i];
    QuantConfig config;
    config.defaults.weight_bits = row.bits;
    config.defaults.granularity = o.granularity;
    config.defaults.scale_rule = o.scale_rule;
    config.activation_bits = o.activation_bits;
    config.decision = o.decision;
    QuantizedNetwork rtn = QuantizeNetwork(net, config, calibration, o.model);
    row.rtn = Summarize(Predict(net, rtn, measured), classes);
    // The init shares the bit width's --time-limit: it stops at the deadline (or on a signal)
    // with the layers it finished, and the repair gets what is left.
    const double limit = o.repair.time_limit_seconds;
    const std::function<bool()> init_should_stop = [&] {
      return (o.repair.stop != nullptr && o.repair.stop->load()) || Seconds(begin) >= limit;
    };
    InitSummary init_summary;
    QuantizedNetwork start =
        InitializeWeights(net, rtn, calibration, o.init, init_should_stop, 1024, &init_summary);
    row.start =
        o.init == InitMethod::kRtn ? row.rtn : Summarize(Predict(net, start, measured), classes);
    // As in `repair`: the repair starts from the better of round to nearest and the init on the
    // repair set, by the --target measure (never by the holdout rows; without a holdout range
    // the measured rows are the repair rows, and their figures serve).
    if (o.init != InitMethod::kRtn) {
      auto score = [&](const QuantizedNetwork& q, const EvalSummary& measured_figures) {
        return TargetMeasure(
            o.has_holdout ? Summarize(Predict(net, q, repair), classes) : measured_figures,
            o.repair.target);
      };
      if (score(start, row.start) < score(rtn, row.rtn)) {
        start = rtn;
        row.start_from = "rtn";
      }
    } else {
      row.start_from = "rtn";
    }
    RepairOptions ro = o.repair;
    ro.time_limit_seconds = std::max(0.0, o.repair.time_limit_seconds - Seconds(begin));
    RepairResult rr = RunRepair(net, start, repair, ro);
    row.repaired = Summarize(Predict(net, rr.network, measured), classes);
    row.neurons_repaired = static_cast<int>(rr.changes.size());
    for (const NeuronChange& c : rr.changes)
      row.weights_changed += static_cast<int64_t>(c.changes.size());
    row.status = rr.interrupted                               ? "interrupted"
                 : rr.right_after <= rr.right_before          ? "no_improvement"
                 : rr.limit_reached || !init_summary.complete ? "limit_reached"
                                                              : "repaired";
    row.seconds = Seconds(begin);
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
