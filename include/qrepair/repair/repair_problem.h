// The plain problem between the network and the solver: one neuron's integer weights may move
// inside bounds; each sample says which accumulator values of that neuron keep it right.
//
// Maths. Let the neuron u of linear layer l have integer weights w_j and bias b. For sample s
// with input codes x_sj, its accumulator is acc_s(w', b') = acc_s + sum_j (w'_j - w_j) x_sj +
// (b' - b). Every other weight is fixed, so whether s ends right (its top-1 equals its target,
// by the reference integer pass) depends on acc_s alone; that dependence is captured exactly as
// a union of integer intervals `good_s` of accumulator values:
//   * logit layer: logit_u = R(acc) is monotone; the target t wins iff R(acc) >= max_{k!=t}
//     (logit_k + need(t,k)) when u = t, or R(acc) <= logit_t - need(t,u) otherwise, where
//     need(t,k) = max(margin, k < t ? 1 : 0) encodes argmax's lowest-index tie rule. The bound
//     on R(acc) becomes a bound on acc by binary search on R (the reference requantization).
//   * hidden layer: y = R(acc) (requantization, ReLU, saturation) takes few values over the
//     reachable accumulators; each value v is run through the rest of the network by the
//     reference pass, and good_s is the union of R^-1(v) over the values v that end right.
// So the problem is exact with respect to the reference pass by construction, whatever the
// layer's requantization or the layers after it; the solver only sees integers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qrepair {

struct AccInterval {
  int64_t lo = 0;  // inclusive
  int64_t hi = 0;  // inclusive
};

struct SampleRow {
  int64_t sample = 0;             // index into the repair set
  bool failing = false;           // true: should be fixed (soft); false: must stay right (hard)
  int64_t acc = 0;                // accumulator at the current weights
  std::vector<int32_t> x;         // input codes, one per weight
  std::vector<AccInterval> good;  // sorted, disjoint; empty = cannot be right
};

struct NeuronRepairProblem {
  int layer = 0;  // index into QuantizedNetwork::layers
  int unit = 0;
  std::string layer_name;
  int weight_bits = 8;
  std::vector<int64_t> weight;     // current integer weights
  std::vector<int64_t> weight_lo;  // allowed new values, inclusive
  std::vector<int64_t> weight_hi;
  int64_t bias = 0;
  int64_t bias_lo = 0;
  int64_t bias_hi = 0;
  std::vector<SampleRow> rows;
};

// A neuron's new weights.
struct NeuronPatch {
  int layer = 0;
  int unit = 0;
  std::vector<int64_t> weight;
  int64_t bias = 0;
};

// Accumulator of `row` under `patch` (exact integer arithmetic).
int64_t PatchedAccumulator(const NeuronRepairProblem& problem, const SampleRow& row,
                           const NeuronPatch& patch);
bool InGood(const SampleRow& row, int64_t acc);
// Smallest and largest accumulator reachable for `row` inside the problem's weight bounds.
AccInterval ReachableRange(const NeuronRepairProblem& problem, const SampleRow& row);

}  // namespace qrepair
