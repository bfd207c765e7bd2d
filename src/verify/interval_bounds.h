// Interval analysis over integer codes: per row, the accumulator's range from the previous
// layer's code ranges, and the code range by monotonicity of the code function.
//
// Maths. acc_r = sum_j W_rj x_j + b_r with x_j in [lo_j, hi_j]:
//     acc_r in [b_r + sum_j (W_rj^+ lo_j + W_rj^- hi_j),  b_r + sum_j (W_rj^+ hi_j + W_rj^- lo_j)]
// computed exactly in double (integers below 2^53, as the pass checks). f is non-decreasing, so
// x_r in [f(acc_lo), f(acc_hi)]: exact for the row given its inputs' ranges (each end is reached
// when the inputs are independent, as on the first layer: there the interval is exact).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "verify/code_network.h"
#include "verify/code_relaxation.h"

namespace qrepair {

// A box of codes (integers in doubles, exact).
struct CodeBox {
  Eigen::VectorXd lo, hi;
  // Number of code points, as a double (may exceed 2^64).
  double Points() const;
};

// What the bounds know about one layer on a box.
struct LayerBounds {
  Eigen::VectorXd acc_lo, acc_hi;     // integer accumulator range per row
  std::vector<CodeRelaxation> relax;  // per row: code range and parallel lines
  CodeBox codes;                      // the rows' code ranges (relax[r].code_lo/hi)
  int unstable = 0;                   // rows with code_lo < code_hi
};

// acc ranges of `layer` from its input codes' box.
void IntervalAccumulators(const CodeLayer& layer, const CodeBox& input, Eigen::VectorXd& acc_lo,
                          Eigen::VectorXd& acc_hi);

// Fills relax, codes and unstable from acc_lo/acc_hi.
void RelaxLayer(const CodeLayer& layer, LayerBounds& bounds,
                BoundMutation mutation = BoundMutation::kNone);

}  // namespace qrepair
