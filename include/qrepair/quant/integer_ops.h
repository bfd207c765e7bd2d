// The integer arithmetic of qrepair, written once. Every other component (the reference forward
// pass, the SMT encoders, the C header exporter) follows these definitions bit for bit.
//
// Rounding: round half to even (banker's rounding), as ONNX QuantizeLinear specifies.
// Requantization of an accumulator `acc` (int64) by a real multiplier M = m * 2^-shift, with
// m an integer in [2^30, 2^31) (the multiplier's 31 significant bits) and 0 <= shift <= 62:
//     y = round_half_even(acc * m / 2^shift)
// computed exactly on the 128-bit product, then saturated to the output's integer range.
// This is the gemmlowp/TFLite fixed-point multiplier idea with half-even instead of half-away
// rounding, so it agrees with ONNX QuantizeLinear(acc * s_w * s_x / s_y) up to the 2^-31
// relative error of representing M.
#pragma once

#include <cmath>
#include <cstdint>

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

// round_half_even(value / 2^shift) for 0 <= shift <= 126, on a 128-bit value.
inline int64_t RoundingShift(__int128 value, int shift) {
  if (shift == 0) return static_cast<int64_t>(value);
  __int128 floor_q = value >> shift;  // arithmetic shift: floor division
  // The low bits are the non-negative remainder value - floor_q * 2^shift (two's complement);
  // masking avoids left-shifting a negative number, which is undefined in C++17.
  __int128 rem = value & ((static_cast<__int128>(1) << shift) - 1);
  __int128 half = static_cast<__int128>(1) << (shift - 1);
  if (rem > half || (rem == half && (floor_q & 1) != 0)) ++floor_q;
  return static_cast<int64_t>(floor_q);
}

inline int64_t Requantize(int64_t acc, const FixedPointMultiplier& f) {
  return RoundingShift(static_cast<__int128>(acc) * f.m, f.shift);
}

// round_half_even(sum / count), count > 0.
inline int64_t RoundingDivide(int64_t sum, int64_t count) {
  int64_t q = sum / count;
  int64_t r = sum % count;
  if (r < 0) {  // make q the floor
    --q;
    r += count;
  }
  if (2 * r > count || (2 * r == count && (q & 1) != 0)) ++q;
  return q;
}

inline int64_t Saturate(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// round_half_even for doubles (std::nearbyint uses the current mode, which is to-nearest-even).
inline double RoundHalfEven(double v) { return std::nearbyint(v); }

// Integer range of a b-bit code.
inline int64_t SignedMin(int bits) { return -(int64_t{1} << (bits - 1)); }
inline int64_t SignedMax(int bits) { return (int64_t{1} << (bits - 1)) - 1; }
inline int64_t UnsignedMax(int bits) { return (int64_t{1} << bits) - 1; }

}  // namespace qrepair
