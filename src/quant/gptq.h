// The linear algebra of the GPTQ-style initializers (init.cc), on plain matrices: the damped
// Hessian of a layer's inputs, the least-squares solve towards float targets, and GPTQ's
// column-by-column rounding with error feedback.
//
// For one linear layer with weights W (units x d) and calibration inputs X (d x n):
//   H      = X X^T + damp I,  damp = 1% of mean(diag(X X^T))
//   GPTQ   minimizes ||(W - Q) X|| over grid points Q column by column: with U the upper Cholesky
//          factor of H^-1, column i is rounded, q_i = clamp(round(w_i / s)) s, and its error is
//          spread onto the columns not yet rounded, W[:, j>i] -= (w_i - q_i) U[i, j] / U[i, i]
//          (Frantar et al. 2022, "GPTQ", Algorithm 1 without lazy batching). With act-order the
//          columns go by descending H_ii, the paper's remedy at low bits: the inputs that carry
//          the most energy are rounded while many columns are left to absorb their error.
//   Ridge  W* = (Y X^T + damp P) (X X^T + damp I)^-1 minimizes ||W* X - Y||^2 + damp ||W* - P||^2
//          for targets Y = W X_f: the weights that map the quantized network's inputs X to the
//          float layer's output on the float network's inputs X_f, pulled towards the float
//          weights P = W. (Pulled towards zero instead, every weight shrinks along the directions
//          X rarely excites; at 6 and 8 bits that alone cost more agreement than RTN's rounding.)
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <vector>

namespace qrepair::gptq {

// H = X X^T + damp I. An input that is always zero (dead) gets H_ii = 1 before damping, as in
// the GPTQ reference code; its weight is then rounded to nearest and spreads no error. (The
// reference code also zeroes such weights; we keep them, for inputs the calibration never lit.)
// Long computations here take `checkpoint`, called between pieces of at most about
// kPieceFlops floating-point operations (it may throw to cancel); empty: never called.
using Checkpoint = std::function<void()>;
constexpr double kPieceFlops = 1e10;

// Columns per piece when each column costs `flops_per_column`: at least 64.
int64_t PieceColumns(double flops_per_column);

Eigen::MatrixXd DampedHessian(const Eigen::MatrixXd& x, const Checkpoint& checkpoint = {});

// W* = (Y X^T + P D) H^-1 with H = DampedHessian(x) and D = diag(H - X X^T), its damping (and
// the 1 of dead inputs): `targets` Y is units x n, `x` d x n, `prior` P units x d. W* = P when
// P X fits Y exactly. Throws InternalError if H is not positive definite.
Eigen::MatrixXd SolveTowardsTargets(const Eigen::MatrixXd& targets, const Eigen::MatrixXd& x,
                                    const Eigen::MatrixXd& h, const Eigen::MatrixXd& prior,
                                    const Checkpoint& checkpoint = {});

// SolveTowardsTargets for several targets on the same X: H's factorization and the damped prior
// P D are computed once. `x` must outlive the solver.
class RidgeSolver {
 public:
  RidgeSolver(const Eigen::MatrixXd& x, const Eigen::MatrixXd& h, const Eigen::MatrixXd& prior,
              const Checkpoint& checkpoint = {});
  Eigen::MatrixXd Solve(const Eigen::MatrixXd& targets, const Checkpoint& checkpoint = {}) const;

 private:
  const Eigen::MatrixXd* x_;
  Eigen::MatrixXd prior_damped_;
  Eigen::LLT<Eigen::MatrixXd> llt_;
};

// The grid one row is rounded to: code * scale, code in [code_min, code_max], half to even.
struct Grid {
  std::vector<double> row_scales;  // one per row of W
  int64_t code_min = 0;
  int64_t code_max = 0;
};

// The part of RoundColumns that depends only on H (the column order and the upper Cholesky
// factor of the permuted H^-1, about 1.7 d^3 operations): built once per layer, used by every
// solve/round round.
class Rounder {
 public:
  Rounder(const Eigen::MatrixXd& h, int64_t rounded_cols, bool act_order,
          const Checkpoint& checkpoint = {});
  Eigen::MatrixXi Round(Eigen::MatrixXd& w, const Grid& grid,
                        const Checkpoint& checkpoint = {}) const;

 private:
  int64_t rounded_cols_;
  std::vector<int64_t> order_;
  Eigen::MatrixXd u_;
};

// GPTQ rounding of the first `rounded_cols` columns of `w` (the remaining columns, such as an
// appended bias column, are free: they only receive the error feedback, come last in either
// order, and keep their updated real values in `w`). With `act_order` the rounded columns go
// by descending H_ii (ties in column order). Returns the codes of the rounded columns
// (units x rounded_cols), each in its column's own place whatever the order. `w` is modified
// in place. Throws InternalError if H is not positive definite.
Eigen::MatrixXi RoundColumns(Eigen::MatrixXd& w, const Eigen::MatrixXd& h, const Grid& grid,
                             int64_t rounded_cols, bool act_order = false,
                             const Checkpoint& checkpoint = {});

}  // namespace qrepair::gptq
