// Symbolic linear bounds over integer codes (DeepPoly/CROWN-style back-substitution, Singh et
// al. POPL'19, Zhang et al. NeurIPS'18), sound for the integer semantics through the parallel
// lines of code_relaxation.h, and sound for the double arithmetic that computes them.
//
// Maths. An objective a^T x^k + c over layer k's codes (x^0: the input codes). Layer k-1 relates
// x^k_r to its accumulator by s^lo_r acc_r + o^lo_r <= x^k_r <= s^hi_r acc_r + o^hi_r, so
//     a^T x^k >= sum_r (a_r >= 0 ? a_r (s^lo_r acc_r + o^lo_r) : a_r (s^hi_r acc_r + o^hi_r))
// (the mirror image for the upper bound), with acc = W x^{k-1} + b: the lower bound's objective
// becomes a'^T x^{k-1} + c' with a' = W^T g, g_r = a_r s_r (the slope its sign picks) and
// c' = c + g^T b + the offsets' sum. The lower and the upper bound travel separately. At x^0 the
// box gives min/max of a'^T x directly.
// Doubles (Higham, Accuracy and Stability, sec. 3.1: a computed n-term dot product of computed
// products is within gamma_{n+2} sum |terms|, gamma_n = n u / (1 - n u)): a computed a' differs
// from the exact W^T (a o s) by at most E = Gamma(n) |W|^T |a o s| per entry; the exact
// inequality holds for the exact a', and replacing it by the computed one costs at most
// E^T max(|x^{k-1}_lo|, |x^{k-1}_hi|), charged to the constants (known from the intervals).
// Every constant sum is charged the same way; Gamma(n) = 2 (n + 8) u covers the error of
// computing the error terms themselves. The final bounds are rounded outward, and accumulator
// bounds (integers) are rounded inward-to-integer: ceil of a lower, floor of an upper.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "verify/code_network.h"
#include "verify/interval_bounds.h"

namespace qrepair {

struct BoundOptions {
  BoundMutation mutation = BoundMutation::kNone;  // the soundness-mutation tests only
  bool symbolic = true;                           // false: intervals only
};

// The error factor of an n-term dot product of computed products (see above).
double DotProductErrorFactor(int64_t n);

// lo/hi of the objectives A x^k + c (one per row of A, A over layer k's codes) on `input`, from
// bounds[0..k-1]. With `input_coefficients`, also the objectives' coefficients over the input
// codes (the direction each input pushes them). `work` counts multiply-adds.
void BackSubstitute(const CodeNetwork& net, const std::vector<LayerBounds>& bounds,
                    const CodeBox& input, int k, RowMatrix a, Eigen::VectorXd c,
                    Eigen::VectorXd& lo, Eigen::VectorXd& hi, RowMatrix* input_coefficients,
                    uint64_t& work);

// max(|lo|, |hi|) per coordinate of a box: what the error charges multiply.
Eigen::VectorXd BoxMagnitude(const CodeBox& box);

// BackSubstitute of the accumulators of layer k's `rows` (their weight rows and biases): lo/hi
// of each, in the order of `rows`.
void BackSubstituteRows(const CodeNetwork& net, const std::vector<LayerBounds>& bounds,
                        const CodeBox& input, int k, const std::vector<int>& rows,
                        Eigen::VectorXd& lo, Eigen::VectorXd& hi, uint64_t& work);

// Bounds of every layer on an input code box: intervals, with the unstable rows of layers after
// the first tightened by back-substitution.
void PropagateBounds(const CodeNetwork& net, const CodeBox& input, const BoundOptions& options,
                     std::vector<LayerBounds>& bounds, uint64_t& work);

}  // namespace qrepair
