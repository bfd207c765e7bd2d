// Exact integer helpers over a NeuronRepairProblem (see repair_problem.h for the maths).
#include "qrepair/repair/repair_problem.h"

#include <algorithm>

namespace qrepair {

int64_t PatchedAccumulator(const NeuronRepairProblem& problem, const SampleRow& row,
                           const NeuronPatch& patch) {
  int64_t acc = row.acc + (patch.bias - problem.bias);
  for (size_t j = 0; j < row.x.size(); ++j) {
    acc += (patch.weight[j] - problem.weight[j]) * int64_t{row.x[j]};
  }
  return acc;
}

bool InGood(const SampleRow& row, int64_t acc) {
  for (const AccInterval& g : row.good) {
    if (acc >= g.lo && acc <= g.hi) return true;
  }
  return false;
}

AccInterval ReachableRange(const NeuronRepairProblem& problem, const SampleRow& row) {
  AccInterval r{row.acc + (problem.bias_lo - problem.bias),
                row.acc + (problem.bias_hi - problem.bias)};
  for (size_t j = 0; j < row.x.size(); ++j) {
    int64_t x = row.x[j];
    if (x == 0) continue;
    int64_t a = (problem.weight_lo[j] - problem.weight[j]) * x;
    int64_t b = (problem.weight_hi[j] - problem.weight[j]) * x;
    r.lo += std::min(a, b);
    r.hi += std::max(a, b);
  }
  return r;
}

}  // namespace qrepair
