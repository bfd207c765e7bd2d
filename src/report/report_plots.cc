// The per-class accuracy chart of a repair report.
#include "qrepair/report/report_plots.h"

#include "qrepair/error.h"
#include "qrepair/report/svg_plot.h"

namespace qrepair {

namespace {

std::vector<double> Percent(const EvalSummary& s, bool float_net) {
  std::vector<double> out;
  for (const ClassStats& c : s.per_class) {
    double n = c.samples ? static_cast<double>(c.samples) : 1.0;
    out.push_back(
        c.samples ? 100.0 * static_cast<double>(float_net ? c.float_correct : c.quant_correct) / n
                  : std::numeric_limits<double>::quiet_NaN());
  }
  return out;
}

}  // namespace

std::string PerClassAccuracySvg(const RepairReport& r) {
  bool holdout = r.after.holdout.samples > 0;
  const EvalSummary& before = holdout ? r.before.holdout : r.before.repair;
  const EvalSummary& init = holdout ? r.init.holdout : r.init.repair;
  const EvalSummary& after = holdout ? r.after.holdout : r.after.repair;
  if (!after.has_labels || after.per_class.empty()) {
    throw Error(ExitCode::kUsage, "the per-class accuracy plot needs labels (--labels)");
  }
  BarChart chart;
  chart.title = "Per-class accuracy, " + std::string(holdout ? "holdout" : "repair") + " range (" +
                std::to_string(after.samples) + " samples)";
  chart.x_label = "class";
  chart.y_label = "accuracy (%)";
  for (const ClassStats& c : after.per_class) chart.categories.push_back(std::to_string(c.label));
  chart.series.push_back({"float", Percent(after, true)});
  chart.series.push_back({"round-to-nearest", Percent(before, false)});
  if (!r.init_method.empty() && r.init_method != "rtn") {
    chart.series.push_back({"start (" + r.init_method + ")", Percent(init, false)});
  }
  chart.series.push_back({"repaired", Percent(after, false)});
  return RenderBarChart(chart);
}

}  // namespace qrepair
