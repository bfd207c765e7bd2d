// The stages of a repair, written once and used by `repair`, `batch` (RunRepairJob) and `sweep`:
//   data -> measure round-to-nearest -> init and choose the start -> RunRepair -> check every
//   claim with the reference pass -> classify the outcome.
// Each stage is a function of plain values; the callers only decide what to load and write.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "qrepair/error.h"
#include "qrepair/io/dataset.h"
#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/evaluate.h"
#include "qrepair/quant/init.h"
#include "qrepair/repair/budget.h"
#include "qrepair/repair/repair.h"
#include "qrepair/report/report.h"

namespace qrepair {

// The rows the repair may look at, and the rows only measured.
struct RepairData {
  Dataset repair;
  Dataset holdout;
  bool has_holdout = false;
  const Dataset* Holdout() const { return has_holdout ? &holdout : nullptr; }
};

// Loads both ranges. Throws Error(kUsage) when `target` is labels and there are none.
RepairData LoadRepairData(const DataOptions& data, const RowRange& repair_range,
                          const std::optional<RowRange>& holdout_range, RepairTarget target);

// The reference pass's figures of `q` on the repair rows (and the holdout rows, when given);
// `repair_predictions` receives the repair rows' predictions.
StageFigures Measure(const Network& float_net, const QuantizedNetwork& q, const Dataset& repair,
                     const Dataset* holdout, Predictions* repair_predictions = nullptr);

// Where the SMT stage starts.
struct StartPoint {
  QuantizedNetwork network;
  StageFigures figures;       // of `network` (the round-to-nearest figures when it starts there)
  StageFigures init_figures;  // of the init's result (round-to-nearest's for --init rtn)
  Predictions repair_predictions;  // of `network` on the repair rows
  std::string from = "init";       // "init", or "rtn" when the init was worse on the repair rows
  InitSummary init;
  double init_seconds = 0;
};

// Runs the init on `calibration` until `init_budget` runs out (or a stop), and starts from the
// better of it and round to nearest on the repair rows, by the `target` measure: a cut-short
// init can be worse than either. The init starts from `init_base` when given (the same network
// with other layer scale rules: ScaledInitBase), else from `rtn`.
StartPoint InitAndChooseStart(const Network& float_net, const QuantizedNetwork& rtn,
                              const RepairData& data, const StageFigures& rtn_figures,
                              const Predictions& rtn_predictions, const FloatBatch& calibration,
                              InitMethod init, RepairTarget target, const Budget& init_budget,
                              const QuantizedNetwork* init_base = nullptr);

// The init's starting network: round to nearest again with the searched scales ("mse") on every
// layer whose weight scale rule the config does not name (LayerQuantSpec::scale_given), for inits
// that re-derive the weights (not rtn), unless `keep_rules` (the user named the rule elsewhere,
// or the model file is already quantized). A layer the init does not reach (its time ran out)
// keeps these searched round-to-nearest weights. `rule` receives what the report says: "mse
// (searched: the config names no scale)" or "as the config". `float_net` is oriented as `rtn`
// was quantized, `calibration` the inputs its activation scales came from.
QuantizedNetwork ScaledInitBase(const Network& float_net, const QuantizedNetwork& rtn,
                                const FloatBatch& calibration, InitMethod init, bool keep_rules,
                                std::string* rule);

// Re-runs the reference pass over `written` (the network as it will be written) and checks every
// claim of `result`: samples right, samples broken by the SMT stage, the guard set's agreement.
// Fills report.after, fixed/broken counts, fixed_confusions, guard, verified and its note.
// Throws InternalError when a claim does not hold: nothing unverified leaves the program.
void CheckRepairClaims(const Network& float_net, const QuantizedNetwork& written,
                       const RepairData& data, const RepairOptions& options,
                       const Predictions& rtn_predictions, const Predictions& start_predictions,
                       const RepairResult& result, RepairReport& report);

// The outcome of a checked repair: "interrupted", "no_improvement" (neither the SMT stage nor
// the job as a whole improved on round to nearest on the repair rows), "limit_reached" (the
// time or work limit, or an init cut short) or "repaired"; sets report.status and returns the
// exit code that goes with it.
ExitCode ClassifyOutcome(const RepairResult& result, bool init_complete, RepairReport& report);

}  // namespace qrepair
