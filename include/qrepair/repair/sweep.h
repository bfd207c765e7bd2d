// Accuracy versus weight bit width: for each width, the float network, round-to-nearest, the
// --init start and the repaired network, all measured by the reference pass on one holdout range,
// so a user can pick the smallest width that still meets their accuracy.
#pragma once

#include <atomic>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "qrepair/io/dataset.h"
#include "qrepair/quant/evaluate.h"
#include "qrepair/quant/init.h"
#include "qrepair/quant/quant_config.h"
#include "qrepair/repair/budget.h"
#include "qrepair/repair/repair.h"

namespace qrepair {

struct SweepOptions {
  std::string model;      // float network (.onnx, .nnet, .json)
  DataOptions data;       // without range
  RowRange repair_range;  // calibration and repair
  bool has_holdout = false;
  RowRange holdout_range;  // measured only; the repair range when absent
  std::vector<int> bits;   // weight bit widths, 2..16
  Granularity granularity = Granularity::kPerTensor;
  ScaleRule scale_rule = ScaleRule::kMaxAbs;
  bool scale_given = false;  // --scale was given: the init keeps it (else it searches: "mse")
  int activation_bits = 8;   // 0: float activations (weights-only)
  Decision decision = Decision::kArgmax;
  InitMethod init = InitMethod::kRtn;
  RepairOptions repair;
  BudgetLimits limits;  // job_seconds is per width (init and repair)
  const std::atomic<bool>* stop = nullptr;
};

struct SweepRow {
  int bits = 0;
  EvalSummary rtn;                  // round-to-nearest (its float_accuracy is the float network's)
  EvalSummary start;                // after --init (equals rtn for rtn)
  std::string start_from = "init";  // where the repair started: "init", or "rtn" when the init
                                    // was worse on the repair set (as in `repair`)
  EvalSummary repaired;             // after RunRepair
  int neurons_repaired = 0;
  int64_t weights_changed = 0;
  std::string status;  // "repaired", "no_improvement", "limit_reached", "interrupted"
  double seconds = 0;
};

struct SweepResult {
  std::string model;
  std::string measured_on;  // "holdout rows A:B" or "repair rows A:B"
  bool has_labels = false;
  std::string init_method;
  std::vector<SweepRow> rows;
};

// Parses "2..8", "2,3,4" or "4" into widths in 2..16. Throws Error(kUsage) naming `flag`.
std::vector<int> ParseBitList(const std::string& text, const std::string& flag);

// Progress: (width index done, widths, current width).
using SweepProgressFn = std::function<void(int, int, int)>;

// Throws Error for bad input. Every figure comes from the reference pass (Predict).
SweepResult RunSweep(const SweepOptions& options, const SweepProgressFn& progress = nullptr);

// One Markdown table: bits, float, round-to-nearest, start, repaired (accuracy and agreement).
std::string SweepMarkdown(const SweepResult& result);
// Accuracy (agreement without labels) versus bit width: float, RTN, start, repaired.
std::string SweepSvg(const SweepResult& result);
void to_json(nlohmann::json& json, const SweepResult& result);

}  // namespace qrepair
