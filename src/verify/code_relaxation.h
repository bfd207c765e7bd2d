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
// Slopes: each side tries the chord (H(u) - H(l)) / (u - l), 0 and each piece's multiplier
// (M, M_neg) and keeps the line enclosing the least area over [l, u]: for a ReLU crossing 0 that
// is DeepPoly's chord above and its choice between slopes 0 and M below (Singh et al. POPL'19);
// inside one linear piece it is the piece's slope, with offsets -e and +e. Stable rows
// (f(l) = f(u)) get slope 0 and the exact code as both offsets.
// Doubles: M is exact; any slope is sound since the offsets are computed for it; H(t) - s t takes
// three roundings, charged as 4u (|H(t)| + |s t|) with u = 2^-53, and the offsets are rounded
// outward.
#pragma once

#include <cstdint>

#include "verify/code_network.h"

namespace qrepair {

struct CodeRelaxation {
  int64_t code_lo = 0, code_hi = 0;  // exact: f(l), f(u)
  double slope_lo = 0, slope_hi = 0;
  // slope_lo t + offset_lo <= f(t) <= slope_hi t + offset_hi
  double offset_lo = 0, offset_hi = 0;
};

// Deliberately unsound variants for the soundness-mutation tests (the exhaustive oracle must
// catch them): the rounding error left out, or the output zero point ignored in the lines.
enum class BoundMutation { kNone, kNoRoundingError, kNoZeroPoint };

CodeRelaxation RelaxRow(const CodeLayer& layer, int row, int64_t acc_lo, int64_t acc_hi,
                        BoundMutation mutation = BoundMutation::kNone);

}  // namespace qrepair
