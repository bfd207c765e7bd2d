// GPTQ's rounding with error feedback and the ridge solve towards float targets (maths in gptq.h).
#include "gptq.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include <Eigen/Cholesky>

#include "qrepair/error.h"
#include "qrepair/integer_ops.h"

namespace qrepair::gptq {

namespace {

constexpr double kDampFraction = 0.01;

Eigen::LLT<Eigen::MatrixXd> Factor(const Eigen::MatrixXd& h, const char* what) {
  Eigen::LLT<Eigen::MatrixXd> llt(h);
  if (llt.info() != Eigen::Success) {
    throw InternalError(std::string("GPTQ: ") + what + " is not positive definite");
  }
  return llt;
}

}  // namespace

Eigen::MatrixXd DampedHessian(const Eigen::MatrixXd& x) {
  const int64_t d = x.rows();
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(d, d);
  h.selfadjointView<Eigen::Lower>().rankUpdate(x);  // X X^T, half the work of a product
  h.triangularView<Eigen::StrictlyUpper>() = h.transpose();
  for (int64_t i = 0; i < d; ++i) {
    if (h(i, i) == 0.0) h(i, i) = 1.0;  // dead input: no data, keep the system regular
  }
  const double damp = d > 0 ? kDampFraction * h.diagonal().mean() : 0.0;
  h.diagonal().array() += damp;
  return h;
}

Eigen::MatrixXd SolveTowardsTargets(const Eigen::MatrixXd& targets, const Eigen::MatrixXd& x,
                                    const Eigen::MatrixXd& h, const Eigen::MatrixXd& prior) {
  if (prior.rows() != targets.rows() || prior.cols() != x.rows() || h.rows() != x.rows()) {
    throw InternalError("GPTQ: prior, target, input and Hessian sizes do not match");
  }
  const Eigen::VectorXd damp = h.diagonal() - x.rowwise().squaredNorm();
  Eigen::MatrixXd yx = targets * x.transpose();  // units x d
  yx.noalias() += prior * damp.asDiagonal();
  // W* H = Y X^T + P D with H symmetric, so W*^T = H^-1 (Y X^T + P D)^T.
  return Factor(h, "the damped input Hessian").solve(yx.transpose()).transpose();
}

Eigen::MatrixXi RoundColumns(Eigen::MatrixXd& w, const Eigen::MatrixXd& h, const Grid& grid,
                             int64_t rounded_cols, bool act_order) {
  const int64_t rows = w.rows();
  const int64_t cols = w.cols();
  if (static_cast<int64_t>(grid.row_scales.size()) != rows || h.rows() != cols ||
      h.cols() != cols || rounded_cols > cols) {
    throw InternalError("GPTQ: weight, Hessian and grid sizes do not match");
  }
  // order[i] is the column taken i-th; the free columns stay last, in place.
  std::vector<int64_t> order(cols);
  std::iota(order.begin(), order.end(), 0);
  if (act_order) {
    std::stable_sort(order.begin(), order.begin() + rounded_cols,
                     [&h](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  }
  Eigen::MatrixXd hp(cols, cols);
  Eigen::MatrixXd wp(rows, cols);
  for (int64_t i = 0; i < cols; ++i) {
    wp.col(i) = w.col(order[i]);
    for (int64_t j = 0; j < cols; ++j) hp(i, j) = h(order[i], order[j]);
  }
  const Eigen::MatrixXd h_inv =
      Factor(hp, "the damped input Hessian").solve(Eigen::MatrixXd::Identity(cols, cols));
  const Eigen::MatrixXd u = Factor(h_inv, "the inverse Hessian").matrixU();

  Eigen::MatrixXi codes(rows, rounded_cols);
  Eigen::VectorXd err(rows);
  const double lo = static_cast<double>(grid.code_min);
  const double hi = static_cast<double>(grid.code_max);
  for (int64_t i = 0; i < rounded_cols; ++i) {
    for (int64_t r = 0; r < rows; ++r) {
      const double s = grid.row_scales[r];
      const double q = std::clamp(RoundHalfEven(wp(r, i) / s), lo, hi);
      codes(r, order[i]) = static_cast<int>(q);
      err(r) = (wp(r, i) - q * s) / u(i, i);
      wp(r, i) = q * s;
    }
    const int64_t rest = cols - i - 1;
    if (rest > 0) wp.rightCols(rest).noalias() -= err * u.row(i).tail(rest);
  }
  for (int64_t i = 0; i < cols; ++i) w.col(order[i]) = wp.col(i);
  return codes;
}

}  // namespace qrepair::gptq
