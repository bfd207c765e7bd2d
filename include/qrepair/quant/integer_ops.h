// The integer arithmetic of qrepair, written once. Every other component (the reference forward
// pass, the per-neuron repair problems, the C header exporter, the verifier) follows these
// definitions bit for bit.
//
// Requantization of an accumulator `acc` (int64) by a real multiplier M = m * 2^-shift, with
// m an integer in [2^30, 2^31) (the multiplier's 31 significant bits) and 0 <= shift <= 62, in
// one of four rounding modes (RoundingMode; the quantization config's "rounding" picks one):
//   half-even (default)  y = round_half_even(acc * m / 2^shift), exact on the 128-bit product.
//                        ONNX QuantizeLinear's rounding; agrees with QuantizeLinear(acc * s_w *
//                        s_x / s_y) up to the 2^-31 relative error of representing M.
//   half-away            y = round_half_away_from_zero(acc * m / 2^shift), exact.
//   half-up              y = floor(acc * m / 2^shift + 1/2), exact (fixed-point designs and the
//                        quantized-verification literature; also TFLite's TFLITE_SINGLE_ROUNDING).
//   tflite               TFLite's MultiplyByQuantizedMultiplier (tensorflow/lite/kernels/
//                        internal/common.h) with gemmlowp's fixedpoint.h roundings, exactly. With
//                        TFLite's exponent e = 31 - shift, l = max(e, 0), r = max(-e, 0):
//                          x  = sat_int32(acc)           (TFLite accumulates in int32)
//                          x' = sat_int32(x * 2^l)       (TFLite computes x * (1 << l) in int32
//                                                         without a check; qrepair saturates
//                                                         where TFLite's C++ is undefined)
//                          h  = SaturatingRoundingDoublingHighMul(x', m)
//                             = floor((x' * m + 2^30) / 2^31)  (the nudge and truncating division
//                               of gemmlowp: round half up; INT32_MIN * INT32_MIN -> INT32_MAX)
//                          y  = RoundingDivideByPOT(h, r)
//                             = (h >> r) + (h & (2^r - 1) > ((2^r - 1) >> 1) + (h < 0) ? 1 : 0)
//                               (round half away from zero)
// The result is then saturated to the output code's range. All four are non-decreasing in acc
// and map 0 to 0, so ReLU before or after requantization is the same function.
// Average pooling divides by the cell count in the same mode (tflite: half away from zero, as
// TFLite's integer AveragePool), and float inputs are coded in the same mode (tflite: half away
// from zero, as TFLite's Quantize).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

namespace qrepair {

struct FixedPointMultiplier {
  int64_t m = 1 << 30;  // in [2^30, 2^31), or 0 when the real multiplier is 0
  int shift = 30;       // 0..62
  double Value() const { return std::ldexp(static_cast<double>(m), -shift); }
  bool operator==(const FixedPointMultiplier& o) const { return m == o.m && shift == o.shift; }
};

// Nearest representable multiplier to `real` (>= 0). Multipliers too small to represent become 0
// (every output rounds to 0); too large ones (>= 2^31) come back with shift 0 and m >= 2^31 (or
// INT64_MAX), which the caller refuses.
inline FixedPointMultiplier MakeMultiplier(double real) {
  FixedPointMultiplier f;
  if (!(real > 0.0)) {
    f.m = 0;
    f.shift = 0;
    return f;
  }
  if (std::isinf(real)) {  // beyond any double: as for >= 2^31 below, callers refuse it
    f.m = INT64_MAX;
    f.shift = 0;
    return f;
  }
  int exponent = 0;
  double mantissa = std::frexp(real, &exponent);  // real = mantissa * 2^exponent, [0.5,1)
  int64_t m = static_cast<int64_t>(std::nearbyint(std::ldexp(mantissa, 31)));
  if (m == (int64_t{1} << 31)) {
    m >>= 1;
    ++exponent;
  }
  int shift = 31 - exponent;
  if (shift > 62) {
    f.m = 0;
    f.shift = 0;
    return f;
  }
  if (shift < 0) {  // >= 2^31: kept as an integer >= 2^31 so that callers see it and refuse it
    f.m = shift < -31 ? INT64_MAX : m << -shift;
    f.shift = 0;
    return f;
  }
  f.m = m;
  f.shift = shift;
  return f;
}

enum class RoundingMode { kHalfEven, kHalfAway, kHalfUp, kTflite };

// "half-even", "half-away", "half-up", "tflite".
inline const char* RoundingModeName(RoundingMode mode) {
  switch (mode) {
    case RoundingMode::kHalfEven:
      return "half-even";
    case RoundingMode::kHalfAway:
      return "half-away";
    case RoundingMode::kHalfUp:
      return "half-up";
    case RoundingMode::kTflite:
      return "tflite";
  }
  return "?";
}

// The mode RoundingModeName names; false for anything else.
inline bool ParseRoundingMode(const std::string& name, RoundingMode* mode) {
  for (RoundingMode m : {RoundingMode::kHalfEven, RoundingMode::kHalfAway, RoundingMode::kHalfUp,
                         RoundingMode::kTflite}) {
    if (name == RoundingModeName(m)) {
      *mode = m;
      return true;
    }
  }
  return false;
}

// The rounding of a single division (average pooling, float input coding): tflite's is half
// away from zero.
inline RoundingMode DivisionRounding(RoundingMode mode) {
  return mode == RoundingMode::kTflite ? RoundingMode::kHalfAway : mode;
}

// Rounds floor_q + rem / divisor (0 <= rem < divisor) to an integer: the one place where the
// exact modes' tie rules are written. `twice_rem_vs_divisor` is sign(2 * rem - divisor).
inline bool RoundsUp(int twice_rem_vs_divisor, bool floor_is_odd, bool negative,
                     RoundingMode mode) {
  if (twice_rem_vs_divisor != 0) return twice_rem_vs_divisor > 0;
  switch (mode) {
    case RoundingMode::kHalfEven:
      return floor_is_odd;
    case RoundingMode::kHalfUp:
      return true;
    default:  // half away from zero: a tie rounds up iff the value is positive
      return !negative;
  }
}

// round(value / 2^shift) in an exact mode (not kTflite) for 0 <= shift <= 126, on a 128-bit
// value.
inline int64_t RoundingShift(__int128 value, int shift, RoundingMode mode) {
  if (shift == 0) return static_cast<int64_t>(value);
  __int128 floor_q = value >> shift;  // arithmetic shift: floor division
  // The low bits are the non-negative remainder value - floor_q * 2^shift (two's complement);
  // masking avoids left-shifting a negative number, which is undefined in C++17.
  __int128 rem = value & ((static_cast<__int128>(1) << shift) - 1);
  __int128 half = static_cast<__int128>(1) << (shift - 1);
  int cmp = rem > half ? 1 : (rem == half ? 0 : -1);
  if (RoundsUp(cmp, (floor_q & 1) != 0, value < 0, mode)) ++floor_q;
  return static_cast<int64_t>(floor_q);
}

// round_half_even(value / 2^shift).
inline int64_t RoundingShift(__int128 value, int shift) {
  return RoundingShift(value, shift, RoundingMode::kHalfEven);
}

inline int32_t SaturateInt32(int64_t v) {
  return static_cast<int32_t>(v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : v));
}

// gemmlowp's SaturatingRoundingDoublingHighMul (fixedpoint/fixedpoint.h): the high 32 bits of
// 2*a*b, rounded by a nudge of 2^30 (1 - 2^30 for a negative product) and a division that
// truncates toward zero, which is floor((a*b + 2^30) / 2^31); the one overflowing input pair
// (INT32_MIN, INT32_MIN) gives INT32_MAX.
inline int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t ab = int64_t{a} * b;
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded half away from zero, 0 <= exponent
// <= 31.
inline int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  const int64_t mask = (int64_t{1} << exponent) - 1;
  const int64_t remainder = int64_t{x} & mask;
  const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return static_cast<int32_t>((int64_t{x} >> exponent) + (remainder > threshold ? 1 : 0));
}

// TFLite's MultiplyByQuantizedMultiplier on qrepair's int64 accumulator (formulas at the top).
inline int32_t TfliteRequantize(int64_t acc, const FixedPointMultiplier& f) {
  const int exponent = 31 - f.shift;  // TFLite's shift: M = m * 2^(exponent - 31)
  const int left = exponent > 0 ? exponent : 0;
  const int right = exponent > 0 ? 0 : -exponent;
  const int64_t x = SaturateInt32(acc);
  const int32_t shifted = SaturateInt32(x * (int64_t{1} << left));  // |x| <= 2^31, left <= 31
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(shifted, static_cast<int32_t>(f.m)),
                             right);
}

inline int64_t Requantize(int64_t acc, const FixedPointMultiplier& f, RoundingMode mode) {
  if (mode == RoundingMode::kTflite) return TfliteRequantize(acc, f);
  return RoundingShift(static_cast<__int128>(acc) * f.m, f.shift, mode);
}

// Half to even (the default semantics).
inline int64_t Requantize(int64_t acc, const FixedPointMultiplier& f) {
  return Requantize(acc, f, RoundingMode::kHalfEven);
}

// The worst case of |Requantize(acc, f, mode) - acc * f.Value()| before the output saturation,
// over every accumulator with |acc| <= RequantizeExactLimit(mode, f): 1/2 in the exact modes;
// in tflite 1/2 * 2^-r (the doubling high multiply's rounding, seen after the division by 2^r)
// plus 1/2 (RoundingDivideByPOT's) when r = shift - 31 > 0, else 1/2. Exact as a double.
inline double RequantizeErrorBound(RoundingMode mode, const FixedPointMultiplier& f) {
  if (mode != RoundingMode::kTflite || f.shift <= 31) return 0.5;
  return 0.5 + std::ldexp(0.5, -(f.shift - 31));
}

// The accumulators on which RequantizeErrorBound holds: every int64 in the exact modes (the
// callers keep |acc * m| < 2^126), and in tflite those that neither the int32 saturation of
// the accumulator nor that of the left shift changes: |acc| * 2^l <= INT32_MAX.
inline int64_t RequantizeExactLimit(RoundingMode mode, const FixedPointMultiplier& f) {
  if (mode != RoundingMode::kTflite) return INT64_MAX;
  const int left = f.shift < 31 ? 31 - f.shift : 0;
  return INT32_MAX >> left;
}

// round(sum / count) in `mode` (kTflite: half away from zero), count > 0.
inline int64_t RoundingDivide(int64_t sum, int64_t count, RoundingMode mode) {
  int64_t q = sum / count;
  int64_t r = sum % count;
  if (r < 0) {  // make q the floor
    --q;
    r += count;
  }
  const int cmp = 2 * r > count ? 1 : (2 * r == count ? 0 : -1);
  if (RoundsUp(cmp, (q & 1) != 0, sum < 0, DivisionRounding(mode))) ++q;
  return q;
}

// round_half_even(sum / count), count > 0.
inline int64_t RoundingDivide(int64_t sum, int64_t count) {
  return RoundingDivide(sum, count, RoundingMode::kHalfEven);
}

inline int64_t Saturate(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// round_half_even for doubles (std::nearbyint uses the current mode, which is to-nearest-even).
inline double RoundHalfEven(double v) { return std::nearbyint(v); }

// round(v) in `mode` (kTflite: half away from zero, as TFLite's Quantize). v - floor(v) is exact
// for every double, so the ties are decided exactly.
inline double RoundReal(double v, RoundingMode mode) {
  if (mode == RoundingMode::kHalfEven || !std::isfinite(v)) return RoundHalfEven(v);
  const double floor_v = std::floor(v);
  const double frac = v - floor_v;
  const int cmp = frac > 0.5 ? 1 : (frac == 0.5 ? 0 : -1);
  return RoundsUp(cmp, std::fmod(floor_v, 2.0) != 0.0, v < 0, DivisionRounding(mode))
             ? floor_v + 1.0
             : floor_v;
}

// Integer range of a b-bit code.
inline int64_t SignedMin(int bits) { return -(int64_t{1} << (bits - 1)); }
inline int64_t SignedMax(int bits) { return (int64_t{1} << (bits - 1)) - 1; }
inline int64_t UnsignedMax(int bits) { return (int64_t{1} << bits) - 1; }

}  // namespace qrepair
