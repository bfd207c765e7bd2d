// Repair until proved: counterexample-guided repair of a quantized network against properties
// over input regions (VNN-LIB properties, local robustness), with a proof at the end.
//
// Loop (one round): verify every property on the current network (verifier.h: exact for the
// integer semantics, every counterexample confirmed by the reference pass). If all hold, stop:
// proved. Otherwise each counterexample becomes a row of the per-neuron problems, its good set
// computed from the property's output constraints ("no unsafe clause holds", exact integers:
// problem_builder.h, BuildGoalProblem) instead of "the target wins". Counterexamples accumulate
// across rounds; a counterexample already safe is a hard row (it must stay safe), and so is every
// kept sample (the repair samples the network gets right). Neurons are tried from the logit layer
// backwards; a patch is kept only when the reference pass confirms that every kept sample stays
// right, every safe counterexample stays safe and at least one more becomes safe. When no
// single-neuron change within max_delta makes progress, the search widens: max_delta doubles
// (up to the weights' range) and the logit layer's bias may move by the full accumulator range.
// The loop ends proved, out of rounds, out of time, or when verification cannot decide.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"
#include "qrepair/repair/budget.h"
#include "qrepair/repair/problem_builder.h"
#include "qrepair/repair/repair.h"
#include "qrepair/solver/neuron_solver.h"
#include "qrepair/verify/property.h"
#include "qrepair/verify/verifier.h"

namespace qrepair {

struct PropertyRepairOptions {
  int max_rounds = 8;               // verify -> repair rounds (the last round only verifies)
  int neurons = 16;                 // candidates solved per layer and widening step
  std::vector<std::string> layers;  // restrict to these layer names (empty: every dense layer)
  BuildOptions build;               // max_delta (the first step), row caps
  SolverOptions solver;             // encoding; limits come from the Budget
  VerifyOptions verify;             // each property's verification (its time_limit_seconds per
                                    // round, capped by the budget); stop comes from the Budget
  int jobs = 1;                     // solver processes at once
};

// The samples whose decision must not change: input codes and the class each must keep.
struct KeptSamples {
  CodeBatch codes;
  std::vector<int> target;
};

struct PropertyOutcome {
  std::string name, source;
  Verdict before = Verdict::kUnknown;  // on the starting network
  Verdict after = Verdict::kUnknown;   // on the repaired network (the last verification)
  std::string reason;                  // the last verification's reason when unknown
  int counterexamples = 0;             // used as rows, over all rounds
  double seconds = 0;                  // verification time spent on this property
  std::optional<Counterexample> last_counterexample;  // when `after` is violated
};

struct PropertyRepairResult {
  QuantizedNetwork network;
  std::vector<PropertyOutcome> properties;
  std::vector<NeuronChange> changes;  // accepted patches, in order (round = the loop's round)
  SolverStats solver;
  int rounds = 0;
  int64_t counterexamples = 0;        // rows over all properties
  int64_t counterexamples_fixed = 0;  // of them, safe on the final network
  // e.g. "max_delta 4", "verification time limit 120 s", "verification work limit 2000000"
  std::vector<std::string> widenings;
  bool proved = false;  // every property holds on `network`
  // "every property is proved", "verification could not decide within the budget", "no patch
  // removed a counterexample", "it ran its N rounds", "the time limit", "interrupted".
  std::string stopped;
};

// Throws Error(kBadInput) when a property does not fit the network, Error(kUsage) for float
// activations. `kept` may be empty (then only the counterexamples constrain the patches).
PropertyRepairResult RepairProperties(const QuantizedNetwork& start,
                                      const std::vector<Property>& properties,
                                      const KeptSamples& kept, const PropertyRepairOptions& options,
                                      const Budget& budget);

}  // namespace qrepair
