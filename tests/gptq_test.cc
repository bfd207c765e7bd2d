// GPTQ's rounding (src/quant/gptq.h) against a column-by-column reference written from the paper.
#include "quant/gptq.h"

#include <gtest/gtest.h>

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "qrepair/quant/integer_ops.h"

namespace qrepair::gptq {
namespace {

// Frantar et al. 2022, Algorithm 1 without lazy batching: after each rounded column, its error
// goes to every later column at once. Returns the codes; `w` ends as the rounded/updated matrix.
Eigen::MatrixXi ReferenceRound(Eigen::MatrixXd& w, const Eigen::MatrixXd& h, const Grid& grid,
                               int64_t rounded_cols, bool act_order) {
  const int64_t cols = w.cols();
  std::vector<int64_t> order(cols);
  std::iota(order.begin(), order.end(), 0);
  if (act_order) {
    std::stable_sort(order.begin(), order.begin() + rounded_cols,
                     [&h](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  }
  Eigen::MatrixXd hp(cols, cols);
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) hp(i, j) = h(order[i], order[j]);
  }
  const Eigen::MatrixXd h_inv = hp.llt().solve(Eigen::MatrixXd::Identity(cols, cols));
  const Eigen::MatrixXd u = h_inv.llt().matrixU();
  Eigen::MatrixXd wp(w.rows(), cols);
  for (int64_t i = 0; i < cols; ++i) wp.col(i) = w.col(order[i]);
  Eigen::MatrixXi codes(w.rows(), rounded_cols);
  for (int64_t i = 0; i < rounded_cols; ++i) {
    for (int64_t r = 0; r < w.rows(); ++r) {
      const double s = grid.row_scales[r];
      const double q = std::clamp(RoundHalfEven(wp(r, i) / s), static_cast<double>(grid.code_min),
                                  static_cast<double>(grid.code_max));
      codes(r, order[i]) = static_cast<int>(q);
      const double err = (wp(r, i) - q * s) / u(i, i);
      wp(r, i) = q * s;
      for (int64_t j = i + 1; j < cols; ++j) wp(r, j) -= err * u(i, j);
    }
  }
  for (int64_t i = 0; i < cols; ++i) w.col(order[i]) = wp.col(i);
  return codes;
}

// Lazy batching reorders the arithmetic, nothing else: over several block boundaries (300
// columns, blocks of 128), with and without act-order and with a free last column, the codes
// are the reference's and the updated weights agree to rounding.
TEST(GptqTest, BlockedRoundingEqualsColumnByColumn) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 6; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const int64_t rows = 7;
    const int64_t cols = 300;
    const bool act_order = trial % 2 == 1;
    const int64_t rounded = trial >= 4 ? cols - 1 : cols;  // a free (bias) column
    Eigen::MatrixXd x(cols, 400);
    for (int64_t i = 0; i < x.size(); ++i) x(i) = normal(rng) * (1 + (i % cols) % 5);
    x.row(cols / 2) = x.row(1) + 0.1 * x.row(2);  // correlated inputs
    const Eigen::MatrixXd h = DampedHessian(x);
    Eigen::MatrixXd w(rows, cols);
    for (int64_t i = 0; i < w.size(); ++i) w(i) = normal(rng) * 0.3;
    Grid grid;
    grid.code_min = -7;
    grid.code_max = 7;
    for (int64_t r = 0; r < rows; ++r) grid.row_scales.push_back(0.05 * (1 + r % 3));
    Eigen::MatrixXd w_blocked = w;
    Eigen::MatrixXd w_reference = w;
    int polls = 0;
    const Eigen::MatrixXi blocked =
        RoundColumns(w_blocked, h, grid, rounded, act_order, [&polls] { ++polls; });
    const Eigen::MatrixXi reference = ReferenceRound(w_reference, h, grid, rounded, act_order);
    EXPECT_EQ(blocked, reference);
    EXPECT_LT((w_blocked - w_reference).cwiseAbs().maxCoeff(), 1e-9);
    EXPECT_GE(polls, 3);  // once per block of columns at least
  }
}

// With a checkpoint, the Hessian and the ridge solve are still X X^T + damping and the exact
// fit (here each in one piece: splitting needs d^2 n > 10^10, too big for a unit test; the
// split loops are plain column ranges), and the checkpoint is called.
TEST(GptqTest, HessianAndSolveWithACheckpoint) {
  std::mt19937_64 rng(4);
  std::normal_distribution<double> normal;
  const int64_t d = 40;
  const int64_t n = 900;
  Eigen::MatrixXd x(d, n);
  for (int64_t i = 0; i < x.size(); ++i) x(i) = normal(rng);
  Eigen::MatrixXd whole = x * x.transpose();
  whole.diagonal().array() += 0.01 * whole.diagonal().mean();
  int polls = 0;
  const Eigen::MatrixXd h = DampedHessian(x, [&polls] { ++polls; });
  EXPECT_LT((h - whole).cwiseAbs().maxCoeff(), 1e-9 * whole.cwiseAbs().maxCoeff());
  EXPECT_GE(polls, 1);
  const Eigen::MatrixXd prior = Eigen::MatrixXd::Random(3, d);
  const Eigen::MatrixXd targets = prior * x;
  polls = 0;
  const Eigen::MatrixXd solved = SolveTowardsTargets(targets, x, h, prior, [&polls] { ++polls; });
  EXPECT_LT((solved - prior).cwiseAbs().maxCoeff(), 1e-8);  // P X fits Y exactly: W* = P
  EXPECT_GE(polls, 1);
  EXPECT_EQ(PieceColumns(1e12), 64);  // never fewer than 64 columns per piece
  EXPECT_EQ(PieceColumns(1e6), 10000);
}

}  // namespace
}  // namespace qrepair::gptq
