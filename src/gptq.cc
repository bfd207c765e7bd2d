// GPTQ's rounding with error feedback and the ridge solve towards float targets (maths in gptq.h).
#include "gptq.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include <Eigen/Cholesky>

#include "qrepair/error.h"
#include "qrepair/integer_ops.h"

namespace qrepair::gptq {

namespace {

Eigen::LLT<Eigen::MatrixXd> Factor(const Eigen::MatrixXd& h, const char* what) {
  Eigen::LLT<Eigen::MatrixXd> llt(h);
  if (llt.info() != Eigen::Success) {
    throw InternalError(std::string("GPTQ: ") + what + " is not positive definite");
  }
  return llt;
}

}  // namespace

Eigen::MatrixXd DampedHessian(const Eigen::MatrixXd& x, double damp_fraction,
                              int64_t undamped_tail) {
  const int64_t d = x.rows();
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(d, d);
  h.selfadjointView<Eigen::Lower>().rankUpdate(x);  // X X^T, half the work of a product
  h.triangularView<Eigen::StrictlyUpper>() = h.transpose();
  for (int64_t i = 0; i < d; ++i) {
    if (h(i, i) == 0.0) h(i, i) = 1.0;  // dead input: no data, keep the system regular
  }
  const int64_t damped = d - undamped_tail;
  const double damp = damped > 0 ? damp_fraction * h.diagonal().head(damped).mean() : 0.0;
  h.diagonal().head(damped).array() += damp;
  return h;
}

Eigen::MatrixXd SolveTowardsTargets(const Eigen::MatrixXd& targets, const Eigen::MatrixXd& x,
                                    const Eigen::MatrixXd& h, const Eigen::MatrixXd* prior,
                                    const Eigen::VectorXd* prior_weight) {
  Eigen::MatrixXd yx = targets * x.transpose();  // units x d
  if (prior != nullptr) yx += *prior * prior_weight->asDiagonal();
  // W* H = Y X^T with H symmetric, so W*^T = H^-1 (Y X^T)^T.
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
  // Column order: as given, or the rounded columns by descending H_ii (free columns stay last).
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

Eigen::MatrixXd RefineColumns(Eigen::MatrixXi& codes, const Eigen::MatrixXd& w_star,
                              const Eigen::MatrixXd& h, const Grid& grid, int max_sweeps) {
  const int64_t rows = codes.rows();
  const int64_t k = codes.cols();
  const int64_t cols = w_star.cols();
  const int64_t m = cols - k;
  if (w_star.rows() != rows || h.rows() != cols || h.cols() != cols || m < 0 ||
      static_cast<int64_t>(grid.row_scales.size()) != rows) {
    throw InternalError("GPTQ refine: weight, Hessian and grid sizes do not match");
  }
  Eigen::MatrixXd h_eff = h.topLeftCorner(k, k);
  Eigen::MatrixXd back;  // C^-1 B^T: how the free columns follow the rounded ones
  if (m > 0) {
    back = Factor(h.bottomRightCorner(m, m), "the free block of the Hessian")
               .solve(h.topRightCorner(k, m).transpose());
    h_eff.noalias() -= h.topRightCorner(k, m) * back;
  }
  const double lo = static_cast<double>(grid.code_min);
  const double hi = static_cast<double>(grid.code_max);
  Eigen::MatrixXd out(rows, cols);
  Eigen::VectorXd e(k);
  Eigen::VectorXd g(k);
  for (int64_t r = 0; r < rows; ++r) {
    const double s = grid.row_scales[r];
    e = codes.row(r).transpose().cast<double>() * s - w_star.row(r).head(k).transpose();
    g.noalias() = h_eff * e;
    for (int sweep = 0; sweep < max_sweeps; ++sweep) {
      int64_t moved = 0;
      for (int64_t j = 0; j < k; ++j) {
        const double hjj = h_eff(j, j);
        if (hjj <= 0) continue;
        const double cur = codes(r, j);
        const double next = std::clamp(RoundHalfEven(cur - g(j) / (s * hjj)), lo, hi);
        if (next == cur) continue;
        const double step = (next - cur) * s;
        if (2 * step * g(j) + step * step * hjj >= 0) continue;
        codes(r, j) = static_cast<int>(next);
        e(j) += step;
        g.noalias() += step * h_eff.col(j);
        ++moved;
      }
      if (moved == 0) break;
    }
    out.row(r).head(k) = codes.row(r).cast<double>() * s;
    if (m > 0) out.row(r).tail(m) = w_star.row(r).tail(m) - (back * e).transpose();
  }
  return out;
}

}  // namespace qrepair::gptq

namespace qrepair::gptq {

int64_t PolishTopOne(Eigen::MatrixXi& codes, const Eigen::VectorXd& bias,
                     const TopOneProblem& p) {
  const int64_t units = codes.rows();
  const int64_t d = codes.cols();
  const int64_t n = p.x.cols();
  if (p.x.rows() != d || p.targets.rows() != units || p.targets.cols() != n ||
      static_cast<int64_t>(p.row_scales.size()) != units || bias.size() != units) {
    throw InternalError("PolishTopOne: sizes do not match");
  }
  std::vector<int64_t> top(n);
  Eigen::VectorXd margin(n);
  for (int64_t s = 0; s < n; ++s) {
    Eigen::Index c;
    const double best = p.targets.col(s).maxCoeff(&c);
    double second = -std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < units; ++k) {
      if (k != c) second = std::max(second, p.targets(k, s));
    }
    top[s] = c;
    margin(s) = p.margin_fraction * (best - second);
  }
  Eigen::MatrixXd z(units, n);
  for (int64_t u = 0; u < units; ++u) {
    z.row(u) = (codes.row(u).cast<double>() * p.row_scales[u]) * p.x;
    z.row(u).array() += bias(u);
  }
  // The nonzero inputs of each column j of Q (ReLU inputs are mostly zero).
  std::vector<std::vector<std::pair<int64_t, double>>> nz(d);
  for (int64_t s = 0; s < n; ++s) {
    for (int64_t j = 0; j < d; ++j) {
      if (p.x(j, s) != 0.0) nz[j].emplace_back(s, p.x(j, s));
    }
  }
  auto hinge = [](double m, double want) {
    const double v = want - m;
    return v > 0 ? v * v : 0.0;
  };
  // Change of J when z(u, s) moves by delta.
  auto delta_j = [&](int64_t u, int64_t s, double delta) {
    double change = p.ls_weight * delta * (2 * (z(u, s) - p.targets(u, s)) + delta);
    const int64_t c = top[s];
    if (u == c) {
      for (int64_t k = 0; k < units; ++k) {
        if (k == c) continue;
        const double m = z(c, s) - z(k, s);
        change += hinge(m + delta, margin(s)) - hinge(m, margin(s));
      }
    } else {
      const double m = z(c, s) - z(u, s);
      change += hinge(m - delta, margin(s)) - hinge(m, margin(s));
    }
    return change;
  };
  int64_t changed = 0;
  for (int sweep = 0; sweep < p.max_sweeps; ++sweep) {
    int64_t moves = 0;
    for (int64_t u = 0; u < units; ++u) {
      for (int64_t j = 0; j < d; ++j) {
        for (int step : {1, -1}) {
          const int64_t code = codes(u, j) + step;
          if (code < p.code_min || code > p.code_max) continue;
          const double unit = step * p.row_scales[u];
          double total = 0;
          for (const auto& [s, v] : nz[j]) total += delta_j(u, s, unit * v);
          if (total >= -1e-12) continue;
          for (const auto& [s, v] : nz[j]) z(u, s) += unit * v;
          codes(u, j) = static_cast<int>(code);
          ++moves;
          break;
        }
      }
    }
    changed += moves;
    if (moves == 0) break;
  }
  return changed;
}

}  // namespace qrepair::gptq
