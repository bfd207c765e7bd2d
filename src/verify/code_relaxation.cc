// The parallel-line relaxation of one code function (maths in code_relaxation.h).
#include "verify/code_relaxation.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qrepair {

namespace {

constexpr double kUnit = 1.1102230246251565e-16;  // u = 2^-53

// H(t) = clamp(M g(t) + z, out_min, out_max), in double (the product and the sum round: both
// are charged by the caller's 4u).
double RealCode(const CodeFunction& f, double z, double t) {
  double v;
  if (t >= 0 || f.activation == QActivation::kNone) {
    v = f.multiplier * t;
  } else if (f.activation == QActivation::kRelu) {
    v = 0;
  } else {
    v = f.multiplier_neg * t;
  }
  return std::min(std::max(v + z, static_cast<double>(f.out_min)), static_cast<double>(f.out_max));
}

}  // namespace

CodeRelaxation RelaxRow(const CodeLayer& layer, int row, int64_t acc_lo, int64_t acc_hi,
                        BoundMutation mutation) {
  CodeRelaxation r;
  r.code_lo = layer.Apply(row, acc_lo);
  r.code_hi = layer.Apply(row, acc_hi);
  if (r.code_lo == r.code_hi) {  // stable: the code itself
    r.slope_lo = r.slope_hi = 0;
    r.offset_lo = r.offset_hi = static_cast<double>(r.code_lo);
    return r;
  }
  const CodeFunction& f = layer.functions[row];
  if (std::max(acc_hi, -acc_lo) > f.exact_limit) {  // past the error bound's range: the interval
    r.slope_lo = r.slope_hi = 0;
    r.offset_lo = static_cast<double>(r.code_lo);
    r.offset_hi = static_cast<double>(r.code_hi);
    return r;
  }
  const double rounding_error = mutation == BoundMutation::kNoRoundingError ? 0 : f.rounding_error;
  const double z = mutation == BoundMutation::kNoZeroPoint ? 0 : static_cast<double>(f.zero_point);
  const double l = static_cast<double>(acc_lo), u = static_cast<double>(acc_hi);

  // Candidate points C: the ends, and the integers around each breakpoint inside (l, u). The
  // breakpoints are computed in double, so their neighbours -1..+2 cover the exact floor and ceil.
  double points[4 + 5 * 4];
  int n_points = 0;
  points[n_points++] = l;
  points[n_points++] = u;
  const double sat_lo = static_cast<double>(f.out_min) - z;  // exact: integers below 2^53
  const double sat_hi = static_cast<double>(f.out_max) - z;
  double breaks[5] = {0, sat_lo / f.multiplier, sat_hi / f.multiplier, 0, 0};
  int n_breaks = 3;
  if (f.activation == QActivation::kLeakyRelu && f.multiplier_neg > 0) {
    breaks[n_breaks++] = sat_lo / f.multiplier_neg;
    breaks[n_breaks++] = sat_hi / f.multiplier_neg;
  }
  for (int i = 0; i < n_breaks; ++i) {
    const double b = breaks[i];
    if (!(b > l && b < u)) continue;
    const double fl = std::floor(b);
    for (double t : {fl - 1, fl, fl + 1, fl + 2}) {
      if (t >= l && t <= u) points[n_points++] = t;
    }
  }
  // min_C and max_C of H(t) - s t, each value widened by its rounding error.
  auto offsets = [&](double s, double& lo, double& hi) {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (int i = 0; i < n_points; ++i) {
      const double h = RealCode(f, z, points[i]);
      const double st = s * points[i];
      const double v = h - st;
      const double err = 4 * kUnit * (std::fabs(h) + std::fabs(st)) + 1e-300;
      lo = std::min(lo, v - err);
      hi = std::max(hi, v + err);
    }
  };
  // Slopes tried: the chord, 0, and each piece's multiplier; each side keeps the one whose line
  // encloses the least area over [l, u] (DeepPoly's choice between 0 and 1 for a ReLU).
  const double candidates[4] = {(RealCode(f, z, u) - RealCode(f, z, l)) / (u - l), 0, f.multiplier,
                                f.multiplier_neg};
  const int n_candidates = f.activation == QActivation::kLeakyRelu ? 4 : 3;
  const double mid = (l + u) / 2;
  double best_lo = -std::numeric_limits<double>::infinity();
  double best_hi = std::numeric_limits<double>::infinity();
  for (int i = 0; i < n_candidates; ++i) {
    const double s = candidates[i];
    double lo = 0, hi = 0;
    offsets(s, lo, hi);
    if (s * mid + lo > best_lo) {
      best_lo = s * mid + lo;
      r.slope_lo = s;
      r.offset_lo = lo;
    }
    if (s * mid + hi < best_hi) {
      best_hi = s * mid + hi;
      r.slope_hi = s;
      r.offset_hi = hi;
    }
  }
  r.offset_lo =
      std::nextafter(r.offset_lo - rounding_error, -std::numeric_limits<double>::infinity());
  r.offset_hi =
      std::nextafter(r.offset_hi + rounding_error, std::numeric_limits<double>::infinity());
  return r;
}

}  // namespace qrepair
