// The abstract element of one code function (code_network.h) on an integer accumulator range:
// its exact code interval and a pair of parallel lines that enclose it, sound for the integer
// semantics (rounding, saturation, ReLU/LeakyReLU) and for the double arithmetic computing them.
//
// Maths. f(t) = sat(round(M g(t))) on integers t in [l, u]. Let
//     H(t) = clamp(M g(t), out_min, out_max)     (continuous, piecewise linear, non-decreasing).
// out_min and out_max are integers and rounding is monotone, so sat(round(v)) = round(clamp(v))
// and f(t) = round(H(t)), hence |f(t) - H(t)| <= e, e the rounding error bound (kRoundingError).
// For any slope s, H(t) - s t is linear between H's breakpoints (0 for the activations,
// out_min / M and out_max / M for saturation), so over the integers of [l, u] its extremes lie
// in C = {l, u} u {floor(b), ceil(b) : b a breakpoint in (l, u)}:
//     s t + min_C(H - s t) - e  <=  f(t)  <=  s t + max_C(H - s t) + e.
// Slope: M (or M_neg, or 0) when [l, u] lies in one piece of H (the offsets are then exactly
// -e and +e), else the chord (H(u) - H(l)) / (u - l); for a ReLU crossing 0 the upper line is
// DeepPoly's chord and the lower one its parallel through the origin (Neurify's symbolic
// intervals, Wang et al. NeurIPS'18, use the same parallel pair). Stable rows (f(l) = f(u)) get
// s = 0 and the exact code as both offsets.
// Doubles: M is exact; H(t) - s t takes three roundings, charged as 4u (|H(t)| + |s t|) with
// u = 2^-53, and the offsets are rounded outward.
#pragma once

#include <cstdint>

#include "verify/code_network.h"

namespace qrepair {

// The one place that states how far a code lies from its real value before saturation: round to
// nearest (any tie rule: half-even, half-away, half-up) is within 1/2. A rounding mode with a
// larger error (a double rounding) changes only this number.
constexpr double kRoundingError = 0.5;

struct CodeRelaxation {
  int64_t code_lo = 0, code_hi = 0;  // exact: f(l), f(u)
  double slope = 0;
  double offset_lo = 0, offset_hi = 0;  // slope t + offset_lo <= f(t) <= slope t + offset_hi
};

// `rounding_error` is kRoundingError except in the soundness-mutation test, which leaves it out.
CodeRelaxation RelaxRow(const CodeLayer& layer, int row, int64_t acc_lo, int64_t acc_hi,
                        double rounding_error = kRoundingError);

}  // namespace qrepair
