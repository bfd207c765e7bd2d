// The abstract element of one code function (code_network.h) on an integer accumulator range:
// its exact code interval and a pair of parallel lines that enclose it, sound for the integer
// semantics (rounding, saturation, ReLU/LeakyReLU) and for the double arithmetic computing them.
//
// Maths. f(t) = sat(round(M g(t)) + z) on integers t in [l, u], z the output zero point. Let
//     H(t) = clamp(M g(t) + z, out_min, out_max)  (continuous, piecewise linear, non-decreasing).
// The clamp is 1-Lipschitz, so |f(t) - H(t)| <= |round(M g(t)) - M g(t)| <= e, e the row's
// rounding error bound (RequantizeErrorBound of its mode; 0 for a standalone ReLU), valid while
// |t| <= RequantizeExactLimit (tflite's int32 saturations). A range past that limit gets the
// exact code interval only (slope 0, offsets f(l) and f(u): f is non-decreasing in every mode).
// For any slope s, H(t) - s t is linear between H's breakpoints (0 for the activations,
// (out_min - z) / M and (out_max - z) / M for saturation), so over the integers of [l, u] its
// extremes lie
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

struct CodeRelaxation {
  int64_t code_lo = 0, code_hi = 0;  // exact: f(l), f(u)
  double slope = 0;
  double offset_lo = 0, offset_hi = 0;  // slope t + offset_lo <= f(t) <= slope t + offset_hi
};

// Deliberately unsound variants for the soundness-mutation tests (the exhaustive oracle must
// catch them): the rounding error left out, or the output zero point ignored in the lines.
enum class BoundMutation { kNone, kNoRoundingError, kNoZeroPoint };

CodeRelaxation RelaxRow(const CodeLayer& layer, int row, int64_t acc_lo, int64_t acc_hi,
                        BoundMutation mutation = BoundMutation::kNone);

}  // namespace qrepair
