// The repair engine: ranks neurons, solves per-neuron problems (in parallel), and accepts a
// patch only when the reference integer pass confirms it on the whole repair set.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "qrepair/io/dataset.h"
#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/evaluate.h"
#include "qrepair/rank/ranking.h"
#include "qrepair/rank/sample_split.h"
#include "qrepair/repair/budget.h"
#include "qrepair/repair/problem_builder.h"
#include "qrepair/solver/neuron_solver.h"

namespace qrepair {

enum class RepairStrategy {
  kDefault,    // ranked neurons of any dense layer, exact rows, counterexample-guided, rounds
  kQnnRepair,  // QNNRepair (Song et al. 2023): last layer only, top-5 by DStar, <= 100 images
};
RepairStrategy ParseStrategy(const std::string& name);  // "default", "qnnrepair"

struct RepairOptions {
  int neurons = 16;                 // K most critical neurons per round
  std::vector<std::string> layers;  // restrict to these layer names
  RepairTarget target = RepairTarget::kFloat;
  RankMethod rank_method = RankMethod::kGradient;
  BuildOptions build;  // max_delta, margin, row caps
  // Encoding and search settings of each call; its limits (time, work, memory, stop) come from
  // the Budget given to RunRepair.
  SolverOptions solver;
  RepairStrategy strategy = RepairStrategy::kDefault;
  int jobs = 1;  // solver processes at once
  int max_rounds = 8;
  int cegar_rounds = 3;       // re-solves with samples the reference pass found broken
  bool allow_broken = false;  // accept patches that break passing samples if net gain
  // Guard set: unlabelled inputs near the repair set (the --augment copies). A patch is kept only
  // if the integer network then agrees with the float top-1 on at least as many of them as
  // before, so that repair-set fixes that do not carry over to nearby inputs are refused.
  FloatBatch guard;
};

struct WeightChange {
  int input = 0;  // weight index within the neuron; -1 = bias
  int64_t before = 0;
  int64_t after = 0;
};

struct NeuronChange {
  int layer = 0;
  std::string layer_name;
  int unit = 0;
  std::vector<WeightChange> changes;
  int64_t samples_fixed = 0;  // repair samples right after this patch and not before
  int round = 0;
};

struct SolverStats {
  int64_t problems = 0;
  int64_t checks = 0, sat = 0, unsat = 0, unknown = 0;
  double seconds = 0;
  uint64_t work = 0;  // Z3 resource units
};

struct RepairResult {
  QuantizedNetwork network;           // best verified network
  std::vector<NeuronChange> changes;  // accepted patches, in order
  SolverStats solver;
  int rounds = 0;
  bool limit_reached = false;  // the time or the work limit
  bool work_limit_reached = false;
  bool interrupted = false;
  int64_t right_before = 0;  // repair samples right (by the target) before and after
  int64_t right_after = 0;
  int64_t broken = 0;              // samples right before and wrong after
  int64_t guard_samples = 0;       // size of the guard set (0: none)
  int64_t guard_right_before = 0;  // guard inputs where the integer top-1 equals the float's
  int64_t guard_right_after = 0;
  int64_t guard_refused = 0;  // patches verified on the repair set but refused by it
  // Why the SMT stage stopped: "every repair sample is right", "round N gained nothing", "it ran
  // its N rounds", "the time limit", "the work limit" or "interrupted".
  std::string stopped;
};

// Writes `patch`'s weights and bias into `net`.
void ApplyPatch(QuantizedNetwork& net, const NeuronPatch& patch);
// Adds one solve's counts, seconds and work to `s`.
void AddStats(SolverStats& s, const SolveOutcome& o);

// Progress callback: (neurons done, neurons planned, repair samples right now).
using ProgressFn = std::function<void(int, int, int64_t)>;

// Throws Error(kUsage) for a weights-only network (float activations): the SMT stage encodes
// integer activations. RunRepair checks it; a job checks it before its init's work.
void CheckRepairable(const QuantizedNetwork& start);

// Stops at the budget's deadline, on its stop flag, or once the whole job's Z3 work is spent
// (checked between groups of problems, so a job may overrun it by at most one group's calls).
RepairResult RunRepair(const Network& float_net, const QuantizedNetwork& start,
                       const Dataset& repair_set, const RepairOptions& options,
                       const Budget& budget, const ProgressFn& progress = nullptr);

// What the SMT stage improves, as a fraction of `s`'s samples: the quantized accuracy with
// RepairTarget::kLabels, the top-1 agreement with float otherwise. `repair` and `sweep` start
// the SMT stage from whichever of round-to-nearest and the init scores higher on the repair set.
double TargetMeasure(const EvalSummary& s, RepairTarget target);

}  // namespace qrepair
