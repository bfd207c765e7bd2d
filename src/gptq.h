// The linear algebra of the GPTQ-style initializers (init.cc), on plain matrices: the damped
// Hessian of a layer's inputs, the least-squares solve towards float targets, and GPTQ's
// column-by-column rounding with error feedback.
//
// For one linear layer with weights W (units x d) and calibration inputs X (d x n):
//   H      = X X^T + damp I,  damp = 1% of mean(diag(X X^T))
//   GPTQ   minimizes ||(W - Q) X|| over grid points Q column by column: with U the upper Cholesky
//          factor of H^-1, column i is rounded, q_i = clamp(round(w_i / s)) s, and its error is
//          spread onto the columns not yet rounded, W[:, j>i] -= (w_i - q_i) U[i, j] / U[i, i]
//          (Frantar et al. 2022, "GPTQ", Algorithm 1 without lazy batching).
//   Ridge  W* = Y X^T (X X^T + damp I)^-1 minimizes ||W* X - Y||^2 + damp ||W*||^2 for targets
//          Y = W X_f: the weights that map the quantized network's inputs X to the float
//          layer's output on the float network's inputs X_f.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

namespace qrepair::gptq {

// H = X X^T + damp I. An input that is always zero (dead) gets H_ii = 1 before damping, as in
// the GPTQ reference code; its weight is then rounded to nearest and spreads no error. (The
// reference code also zeroes such weights; we keep them, for inputs the calibration never lit.)
Eigen::MatrixXd DampedHessian(const Eigen::MatrixXd& x, double damp_fraction,
                              int64_t undamped_tail = 0);

// W* = Y X^T H^-1 with H = DampedHessian(x). `targets` Y is units x n, `x` d x n.
// Throws InternalError if H is not positive definite.
// With `prior` P and its weights (H's damping, per column), the damping pulls towards P:
// W* = (Y X^T + P diag(weight)) H^-1.
Eigen::MatrixXd SolveTowardsTargets(const Eigen::MatrixXd& targets, const Eigen::MatrixXd& x,
                                    const Eigen::MatrixXd& h, const Eigen::MatrixXd* prior = nullptr,
                                    const Eigen::VectorXd* prior_weight = nullptr);

// The grid one row is rounded to: code * scale, code in [code_min, code_max], half to even.
struct Grid {
  std::vector<double> row_scales;  // one per row of W
  int64_t code_min = 0;
  int64_t code_max = 0;
};

// GPTQ rounding of the first `rounded_cols` columns of `w` (the remaining columns, such as an
// appended bias column, are free: they only receive the error feedback, and keep their updated
// real values in `w`). Returns the codes of the rounded columns (units x rounded_cols).
// `w` is modified in place. Throws InternalError if H is not positive definite.
Eigen::MatrixXi RoundColumns(Eigen::MatrixXd& w, const Eigen::MatrixXd& h, const Grid& grid,
                             int64_t rounded_cols, bool act_order);

// Coordinate descent after rounding: with the free columns eliminated (for fixed codes they
// take their least-squares values), each code in turn moves to the grid point that minimizes
//   (q - w*)^T H (q - w*),  q the real weights,
// until a sweep moves none or `max_sweeps` sweeps ran. `w_star` is the unrounded solution
// (units x cols) whose first codes.cols() columns are rounded. Returns the real weights: the
// rounded columns as codes times scale, the free columns at their optimum.
Eigen::MatrixXd RefineColumns(Eigen::MatrixXi& codes, const Eigen::MatrixXd& w_star,
                              const Eigen::MatrixXd& h, const Grid& grid, int max_sweeps);


// Top-1 polish of a logits layer z = diag(s) Q X + b (Q integer codes, units x d; X d x n):
// coordinate descent over single codes, +-1 at a time, on
//   J = sum_s sum_{c != c*_s} max(0, m_s - (z_{c*_s} - z_c))^2 + ls_weight ||z - T||^2
// with c*_s the top class of the targets T on sample s and m_s = margin_fraction times T's own
// top-1 margin: it keeps the float network's top-1 with some room, and otherwise stays near T.
struct TopOneProblem {
  Eigen::MatrixXd x;        // d x n, real units
  Eigen::MatrixXd targets;  // units x n
  std::vector<double> row_scales;
  int64_t code_min = 0;
  int64_t code_max = 0;
  double margin_fraction = 0.5;
  double ls_weight = 0.0;
  int max_sweeps = 10;
};
// Returns the number of codes changed. `codes` and `bias` (real units) are updated in place.
int64_t PolishTopOne(Eigen::MatrixXi& codes, const Eigen::VectorXd& bias,
                     const TopOneProblem& problem);

}  // namespace qrepair::gptq
