// GPTQ's rounding with error feedback and the ridge solve towards float targets (maths in gptq.h).
#include "quant/gptq.h"

#include <Eigen/Cholesky>
#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "qrepair/error.h"
#include "qrepair/quant/integer_ops.h"

namespace qrepair::gptq {

namespace {

constexpr double kDampFraction = 0.01;
constexpr int64_t kBlock = 128;  // GPTQ's lazy-batch width (the paper uses 128 too)

Eigen::LLT<Eigen::MatrixXd> Factor(const Eigen::MatrixXd& h, const char* what) {
  Eigen::LLT<Eigen::MatrixXd> llt(h);
  if (llt.info() != Eigen::Success) {
    throw InternalError(std::string("GPTQ: ") + what + " is not positive definite");
  }
  return llt;
}

}  // namespace

int64_t PieceColumns(double flops_per_column) {
  return std::max<int64_t>(64, static_cast<int64_t>(kPieceFlops / std::max(1.0, flops_per_column)));
}

Eigen::MatrixXd DampedHessian(const Eigen::MatrixXd& x, const Checkpoint& checkpoint) {
  const int64_t d = x.rows();
  const int64_t n = x.cols();
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(d, d);
  const int64_t piece = PieceColumns(static_cast<double>(d) * static_cast<double>(d));
  for (int64_t c = 0; c < n; c += piece) {
    if (checkpoint) checkpoint();
    // X X^T, half the work of a product
    h.selfadjointView<Eigen::Lower>().rankUpdate(x.middleCols(c, std::min(piece, n - c)));
  }
  h.triangularView<Eigen::StrictlyUpper>() = h.transpose();
  for (int64_t i = 0; i < d; ++i) {
    if (h(i, i) == 0.0) h(i, i) = 1.0;  // dead input: no data, keep the system regular
  }
  const double damp = d > 0 ? kDampFraction * h.diagonal().mean() : 0.0;
  h.diagonal().array() += damp;
  return h;
}

RidgeSolver::RidgeSolver(const Eigen::MatrixXd& x, const Eigen::MatrixXd& h,
                         const Eigen::MatrixXd& prior, const Checkpoint& checkpoint)
    : x_(&x) {
  if (prior.cols() != x.rows() || h.rows() != x.rows()) {
    throw InternalError("GPTQ: prior, input and Hessian sizes do not match");
  }
  const Eigen::VectorXd damp = h.diagonal() - x.rowwise().squaredNorm();
  prior_damped_ = prior * damp.asDiagonal();
  if (checkpoint) checkpoint();
  llt_ = Factor(h, "the damped input Hessian");
}

Eigen::MatrixXd RidgeSolver::Solve(const Eigen::MatrixXd& targets,
                                   const Checkpoint& checkpoint) const {
  const Eigen::MatrixXd& x = *x_;
  if (targets.rows() != prior_damped_.rows() || targets.cols() != x.cols()) {
    throw InternalError("GPTQ: target and prior sizes do not match");
  }
  Eigen::MatrixXd yx = prior_damped_;  // units x d
  const int64_t n = x.cols();
  const int64_t piece =
      PieceColumns(2.0 * static_cast<double>(targets.rows()) * static_cast<double>(x.rows()));
  for (int64_t c = 0; c < n; c += piece) {
    if (checkpoint) checkpoint();
    const int64_t m = std::min(piece, n - c);
    yx.noalias() += targets.middleCols(c, m) * x.middleCols(c, m).transpose();
  }
  if (checkpoint) checkpoint();
  // W* H = Y X^T + P D with H symmetric, so W*^T = H^-1 (Y X^T + P D)^T.
  return llt_.solve(yx.transpose()).transpose();
}

Eigen::MatrixXd SolveTowardsTargets(const Eigen::MatrixXd& targets, const Eigen::MatrixXd& x,
                                    const Eigen::MatrixXd& h, const Eigen::MatrixXd& prior,
                                    const Checkpoint& checkpoint) {
  return RidgeSolver(x, h, prior, checkpoint).Solve(targets, checkpoint);
}

Rounder::Rounder(const Eigen::MatrixXd& h, int64_t rounded_cols, bool act_order,
                 const Checkpoint& checkpoint)
    : rounded_cols_(rounded_cols) {
  const int64_t cols = h.rows();
  if (h.cols() != cols || rounded_cols > cols || rounded_cols < 0) {
    throw InternalError("GPTQ: Hessian and rounded column counts do not match");
  }
  // order_[i] is the column taken i-th; the free columns stay last, in place.
  order_.resize(cols);
  std::iota(order_.begin(), order_.end(), 0);
  if (act_order) {
    std::stable_sort(order_.begin(), order_.begin() + rounded_cols,
                     [&h](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  }
  Eigen::MatrixXd hp(cols, cols);
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) hp(i, j) = h(order_[i], order_[j]);
  }
  if (checkpoint) checkpoint();
  const Eigen::LLT<Eigen::MatrixXd> llt = Factor(hp, "the damped input Hessian");
  Eigen::MatrixXd h_inv(cols, cols);
  const int64_t piece = PieceColumns(2.0 * static_cast<double>(cols) * static_cast<double>(cols));
  for (int64_t c = 0; c < cols; c += piece) {
    if (checkpoint) checkpoint();
    const int64_t m = std::min(piece, cols - c);
    h_inv.middleCols(c, m) = llt.solve(Eigen::MatrixXd::Identity(cols, cols).middleCols(c, m));
  }
  if (checkpoint) checkpoint();
  u_ = Factor(h_inv, "the inverse Hessian").matrixU();
}

Eigen::MatrixXi Rounder::Round(Eigen::MatrixXd& w, const Grid& grid,
                               const Checkpoint& checkpoint) const {
  const int64_t rows = w.rows();
  const int64_t cols = w.cols();
  if (static_cast<int64_t>(grid.row_scales.size()) != rows || u_.rows() != cols) {
    throw InternalError("GPTQ: weight, Hessian and grid sizes do not match");
  }
  Eigen::MatrixXd wp(rows, cols);
  for (int64_t i = 0; i < cols; ++i) wp.col(i) = w.col(order_[i]);
  Eigen::MatrixXi codes(rows, rounded_cols_);
  const double lo = static_cast<double>(grid.code_min);
  const double hi = static_cast<double>(grid.code_max);
  // Lazy batching (GPTQ's section 3, "Step 2"): within a block of kBlock columns the error
  // feedback goes to the block's own columns at once; the columns after the block receive the
  // block's errors in one product. The same arithmetic as column by column, reordered: the
  // rank-1 updates of the whole remaining matrix each column made the rounding memory-bound
  // (docs/benchmarks.md).
  Eigen::MatrixXd err(rows, kBlock);
  for (int64_t b0 = 0; b0 < rounded_cols_; b0 += kBlock) {
    if (checkpoint) checkpoint();
    const int64_t b1 = std::min(rounded_cols_, b0 + kBlock);
    for (int64_t i = b0; i < b1; ++i) {
      for (int64_t r = 0; r < rows; ++r) {
        const double s = grid.row_scales[r];
        const double q = std::clamp(RoundHalfEven(wp(r, i) / s), lo, hi);
        codes(r, order_[i]) = static_cast<int>(q);
        err(r, i - b0) = (wp(r, i) - q * s) / u_(i, i);
        wp(r, i) = q * s;
      }
      const int64_t in_block = b1 - i - 1;
      if (in_block > 0) {
        wp.middleCols(i + 1, in_block).noalias() -=
            err.col(i - b0) * u_.row(i).segment(i + 1, in_block);
      }
    }
    const int64_t rest = cols - b1;
    if (rest > 0) {
      wp.rightCols(rest).noalias() -= err.leftCols(b1 - b0) * u_.block(b0, b1, b1 - b0, rest);
    }
  }
  for (int64_t i = 0; i < cols; ++i) w.col(order_[i]) = wp.col(i);
  return codes;
}

Eigen::MatrixXi RoundColumns(Eigen::MatrixXd& w, const Eigen::MatrixXd& h, const Grid& grid,
                             int64_t rounded_cols, bool act_order, const Checkpoint& checkpoint) {
  return Rounder(h, rounded_cols, act_order, checkpoint).Round(w, grid, checkpoint);
}

}  // namespace qrepair::gptq
