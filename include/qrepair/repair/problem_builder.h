// Builds the exact NeuronRepairProblem of one dense neuron from the reference pass's trace.
#pragma once

#include <functional>
#include <vector>

#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"
#include "qrepair/rank/sample_split.h"
#include "qrepair/repair/repair_problem.h"

namespace qrepair {

// The integer pass over the repair set, kept so that problems and checks start mid-network.
struct NetworkTrace {
  CodeBatch input;                // input codes
  std::vector<CodeBatch> layers;  // output codes of every layer (the last: logits)
  const CodeBatch& InputOf(int layer) const { return layer == 0 ? input : layers[layer - 1]; }
};

NetworkTrace TraceNetwork(const QuantizedNetwork& net, const CodeBatch& input_codes);
// Re-runs layers [from, end) after layer `from` changed; earlier layers are reused.
void RetraceFrom(const QuantizedNetwork& net, int from, NetworkTrace& trace);

struct BuildOptions {
  int64_t max_delta = 2;        // |w' - w_origin| <= max_delta (and inside the bit range)
  int64_t margin = 1;           // failing rows: target must beat others by this many logit quanta
  int64_t keep_margin = 0;      // passing rows keep min(their margin, keep_margin) (0: stay right)
  int max_passing_rows = 2000;  // hidden layers: passing rows at risk kept (smallest margin first)
  int max_failing_rows = 1000;
  int max_free_weights = 32;  // weights left free per problem (most useful first); 0 = all
  int max_values_per_row = 64;
  int64_t max_enumerated_columns = 16384;  // hidden layers: (row, value) pairs run downstream  //
                                           // hidden layers: neuron output values enumerated per row
};

// Whether the quantized top-1 equals `target` with the required margin (argmax ties: lowest
// index wins; a margin m > 0 asks logit_t - logit_k >= m for every k != t).
bool LogitsRight(const CodeBatch& logits, int64_t column, int target, int64_t margin);

// `origin` holds the weights the max_delta bound is measured from; `extra_rows` adds samples
// (found broken by the reference pass) that must be rows of the problem.
NeuronRepairProblem BuildNeuronProblem(const QuantizedNetwork& net, const QuantizedNetwork& origin,
                                       const NetworkTrace& trace, const SampleSplit& split,
                                       int layer, int unit, const BuildOptions& options,
                                       const std::vector<int64_t>& extra_rows);

// A row of a problem whose goal is a predicate on the logits instead of a class target: the
// property repair's counterexamples ("no unsafe clause holds") and the samples it keeps.
struct GoalSample {
  int64_t column = 0;    // column of the trace
  int64_t sample = 0;    // what SampleRow::sample reports (the caller's index)
  bool failing = false;  // soft (to be fixed) or hard (must stay right)
  // Whether column `c` of `logits` is right.
  std::function<bool(const CodeBatch& logits, int64_t c)> right;
  // The values v in [lo, hi] such that column `c` of `logits` with logit `unit` set to v is
  // right, as sorted disjoint intervals (the logit layer's exact good set).
  std::function<std::vector<AccInterval>(const CodeBatch& logits, int64_t c, int unit, int64_t lo,
                                         int64_t hi)>
      right_values;
};

// The exact problem of one dense neuron for goal rows (the same construction as
// BuildNeuronProblem: half-lines or enumerated values mapped back through the requantization).
// Hidden layers enumerate at most options.max_values_per_row values per row; hard rows beyond
// options.max_enumerated_columns are dropped (the caller re-checks every patch).
NeuronRepairProblem BuildGoalProblem(const QuantizedNetwork& net, const QuantizedNetwork& origin,
                                     const NetworkTrace& trace,
                                     const std::vector<GoalSample>& samples, int layer, int unit,
                                     const BuildOptions& options);

}  // namespace qrepair
