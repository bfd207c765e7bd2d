// Tests of the integer arithmetic definitions against independent formulations.
#include "qrepair/quant/integer_ops.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "scalar_reference.h"

namespace qrepair {
namespace {

// round_half_even(v / 2^s) by comparing 2*v with odd multiples of 2^s: independent of the
// floor/remainder formulation in RoundingShift.
int64_t SlowRoundShift(int64_t v, int s) {
  int64_t d = int64_t{1} << s;
  int64_t best = 0;
  bool found = false;
  for (int64_t q = v / d - 2; q <= v / d + 2; ++q) {
    int64_t dist2 = std::llabs(2 * v - 2 * q * d);  // 2*|v - q d|
    if (!found || dist2 < std::llabs(2 * v - 2 * best * d) ||
        (dist2 == std::llabs(2 * v - 2 * best * d) && q % 2 == 0)) {
      best = q;
      found = true;
    }
  }
  return best;
}

TEST(IntegerOpsTest, RoundingShiftIsHalfToEven) {
  EXPECT_EQ(RoundingShift(5, 1), 2);    // 2.5 -> 2
  EXPECT_EQ(RoundingShift(7, 1), 4);    // 3.5 -> 4
  EXPECT_EQ(RoundingShift(-5, 1), -2);  // -2.5 -> -2
  EXPECT_EQ(RoundingShift(-7, 1), -4);  // -3.5 -> -4
  EXPECT_EQ(RoundingShift(-6, 2), -2);  // -1.5 -> -2
  for (int s = 0; s <= 6; ++s) {
    for (int64_t v = -3000; v <= 3000; ++v) {
      ASSERT_EQ(RoundingShift(v, s), SlowRoundShift(v, s)) << v << " >> " << s;
    }
  }
}

TEST(IntegerOpsTest, RoundingDivideIsHalfToEven) {
  for (int64_t c = 1; c <= 17; ++c) {
    for (int64_t v = -500; v <= 500; ++v) {
      double exact = static_cast<double>(v) / static_cast<double>(c);
      ASSERT_EQ(RoundingDivide(v, c), static_cast<int64_t>(std::nearbyint(exact))) << v << "/" << c;
    }
  }
}

TEST(IntegerOpsTest, MultiplierRepresentsTheRealValue) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(-30, 8);
  for (int i = 0; i < 10000; ++i) {
    double real = std::exp2(exponent(rng));
    FixedPointMultiplier f = MakeMultiplier(real);
    ASSERT_GE(f.m, int64_t{1} << 30);
    ASSERT_LT(f.m, int64_t{1} << 31);
    ASSERT_NEAR(f.Value() / real, 1.0, 1e-9);
  }
  FixedPointMultiplier one = MakeMultiplier(1.0);
  EXPECT_EQ(Requantize(123456789, one), 123456789);  // exact identity for per-tensor logits
  EXPECT_EQ(MakeMultiplier(0.0).m, 0);
}

// Out-of-range reals (a loaded file's scales can multiply to anything) give multipliers the
// callers refuse (m >= 2^31 at shift 0) or zero, never an undefined float-to-int conversion.
TEST(IntegerOpsTest, MultiplierOfOutOfRangeRealsIsFlaggedNotUndefined) {
  for (double real : {std::numeric_limits<double>::infinity(), 1e300, std::ldexp(1.0, 40)}) {
    FixedPointMultiplier f = MakeMultiplier(real);
    EXPECT_EQ(f.shift, 0) << real;
    EXPECT_GE(f.m, int64_t{1} << 31) << real;
  }
  EXPECT_EQ(MakeMultiplier(std::nan("")).m, 0);
  EXPECT_EQ(MakeMultiplier(-1.0).m, 0);
  EXPECT_EQ(MakeMultiplier(1e-300).m, 0);  // below 2^-31 * 2^-31: rounds to zero
}

TEST(IntegerOpsTest, RequantizeMatchesExactRationalRounding) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> acc(-2000000, 2000000);
  std::uniform_real_distribution<double> exponent(-20, 0);
  for (int i = 0; i < 20000; ++i) {
    FixedPointMultiplier f = MakeMultiplier(std::exp2(exponent(rng)));
    int64_t a = acc(rng);
    // acc*m is exact in long double (64-bit mantissa) for these ranges.
    long double exact = static_cast<long double>(a) * f.m / std::ldexp(1.0L, f.shift);
    long double fl = std::floor(exact);
    long double frac = exact - fl;
    int64_t expected = static_cast<int64_t>(fl);
    if (frac > 0.5L || (frac == 0.5L && (expected & 1) != 0)) ++expected;
    ASSERT_EQ(Requantize(a, f), expected) << a << " * " << f.m << " >> " << f.shift;
  }
}

// gemmlowp's two primitives on hand-computed values: the saturating corner, the nudge's ties
// (a doubling high multiply rounds half up: -0.5 -> 0, -1.5 -> -1), and RoundingDivideByPOT's
// ties away from zero.
TEST(IntegerOpsTest, GemmlowpPrimitivesMatchHandComputedValues) {
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(INT32_MIN, INT32_MIN), INT32_MAX);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(INT32_MAX, INT32_MAX), 2147483646);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(INT32_MIN, INT32_MAX), -2147483647);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(1 << 30, 1 << 30), 1 << 29);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(1, 1 << 30), 1);    // 0.5 -> 1
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-1, 1 << 30), 0);   // -0.5 -> 0
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(-3, 1 << 30), -1);  // -1.5 -> -1
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(3, 1 << 30), 2);    // 1.5 -> 2
  EXPECT_EQ(RoundingDivideByPOT(5, 1), 3);                        // 2.5 -> 3
  EXPECT_EQ(RoundingDivideByPOT(-5, 1), -3);                      // -2.5 -> -3
  EXPECT_EQ(RoundingDivideByPOT(-3, 1), -2);                      // -1.5 -> -2
  EXPECT_EQ(RoundingDivideByPOT(-6, 2), -2);                      // -1.5 -> -2
  EXPECT_EQ(RoundingDivideByPOT(-5, 2), -1);                      // -1.25 -> -1
  EXPECT_EQ(RoundingDivideByPOT(7, 2), 2);                        // 1.75 -> 2
  EXPECT_EQ(RoundingDivideByPOT(9, 0), 9);
  EXPECT_EQ(RoundingDivideByPOT(INT32_MIN, 31), -1);
  EXPECT_EQ(RoundingDivideByPOT(INT32_MAX, 31), 1);
  EXPECT_EQ(RoundingDivideByPOT(1 << 30, 31), 1);      // 0.5 -> 1
  EXPECT_EQ(RoundingDivideByPOT(-(1 << 30), 31), -1);  // -0.5 -> -1
}

// TFLite's requantization by hand: M = 0.5 (TFLite exponent 0) rounds -1.5 to -1 (only the
// doubling high multiply rounds); M = 0.25 rounds twice (0.25 -> 1: the worst case 3/4 of
// RequantizeErrorBound); M = 2 shifts left, and the int32 saturations of the accumulator and of
// the shift.
TEST(IntegerOpsTest, TfliteRequantizeMatchesHandComputedValues) {
  const RoundingMode t = RoundingMode::kTflite;
  const FixedPointMultiplier half = MakeMultiplier(0.5), quarter = MakeMultiplier(0.25),
                             two = MakeMultiplier(2.0);
  ASSERT_EQ(half.m, 1 << 30);
  ASSERT_EQ(half.shift, 31);
  EXPECT_EQ(Requantize(3, half, t), 2);
  EXPECT_EQ(Requantize(-3, half, t), -1);
  EXPECT_EQ(Requantize(-3, half, RoundingMode::kHalfAway), -2);
  EXPECT_EQ(Requantize(-3, half, RoundingMode::kHalfEven), -2);
  EXPECT_EQ(Requantize(-3, half, RoundingMode::kHalfUp), -1);
  EXPECT_EQ(Requantize(1, quarter, t), 1);  // 0.5 -> 1, then 1/2 -> 1
  EXPECT_EQ(Requantize(1, quarter, RoundingMode::kHalfUp), 0);
  EXPECT_EQ(Requantize(-1, quarter, t), 0);
  EXPECT_EQ(Requantize(-2, quarter, t), -1);  // -0.5 -> -1 (away)
  EXPECT_EQ(Requantize(-6, quarter, t), -2);  // -1.5 -> -2
  EXPECT_EQ(Requantize(2, quarter, t), 1);
  EXPECT_EQ(RequantizeErrorBound(t, quarter), 0.75);
  EXPECT_EQ(RequantizeErrorBound(t, half), 0.5);
  EXPECT_EQ(RequantizeErrorBound(RoundingMode::kHalfEven, quarter), 0.5);
  ASSERT_EQ(two.shift, 29);
  EXPECT_EQ(Requantize(3, two, t), 6);
  EXPECT_EQ(Requantize(-3, two, t), -6);
  EXPECT_EQ(RequantizeExactLimit(t, two), INT32_MAX >> 2);
  EXPECT_EQ(Requantize(int64_t{1} << 30, two, t), 1 << 30);  // 2^32 saturates to INT32_MAX
  EXPECT_EQ(Requantize(-(int64_t{1} << 30), two, t), -(1 << 30));
  EXPECT_EQ(Requantize(int64_t{1} << 40, half, t), 1 << 30);  // acc saturates to INT32_MAX
  EXPECT_EQ(Requantize(-(int64_t{1} << 40), half, t), -(1 << 30));
  EXPECT_EQ(Requantize(int64_t{1} << 40, half, RoundingMode::kHalfEven), int64_t{1} << 39);
  FixedPointMultiplier zero = MakeMultiplier(0.0);
  EXPECT_EQ(Requantize(123456, zero, t), 0);
}

TEST(IntegerOpsTest, RoundingModesOnTies) {
  struct Case {
    int64_t acc;
    int64_t even, away, up;
  };
  // acc / 2 with M = 0.5 (m = 2^30, shift 31)
  const FixedPointMultiplier half = MakeMultiplier(0.5);
  for (const Case& c : {Case{5, 2, 3, 3}, Case{7, 4, 4, 4}, Case{-5, -2, -3, -2},
                        Case{-7, -4, -4, -3}, Case{-1, 0, -1, 0}, Case{1, 0, 1, 1}}) {
    EXPECT_EQ(Requantize(c.acc, half, RoundingMode::kHalfEven), c.even) << c.acc;
    EXPECT_EQ(Requantize(c.acc, half, RoundingMode::kHalfAway), c.away) << c.acc;
    EXPECT_EQ(Requantize(c.acc, half, RoundingMode::kHalfUp), c.up) << c.acc;
    EXPECT_EQ(RoundingDivide(c.acc, 2, RoundingMode::kHalfEven), c.even) << c.acc;
    EXPECT_EQ(RoundingDivide(c.acc, 2, RoundingMode::kHalfAway), c.away) << c.acc;
    EXPECT_EQ(RoundingDivide(c.acc, 2, RoundingMode::kHalfUp), c.up) << c.acc;
    EXPECT_EQ(RoundingDivide(c.acc, 2, RoundingMode::kTflite), c.away) << c.acc;
    const double v = static_cast<double>(c.acc) / 2;
    EXPECT_EQ(RoundReal(v, RoundingMode::kHalfEven), c.even) << v;
    EXPECT_EQ(RoundReal(v, RoundingMode::kHalfAway), c.away) << v;
    EXPECT_EQ(RoundReal(v, RoundingMode::kHalfUp), c.up) << v;
    EXPECT_EQ(RoundReal(v, RoundingMode::kTflite), c.away) << v;
  }
  // Below and above a tie, every mode is round to nearest; 0.49999999999999994 stays 0 (the
  // floor(v + 0.5) of doubles would give 1).
  for (RoundingMode mode : {RoundingMode::kHalfEven, RoundingMode::kHalfAway, RoundingMode::kHalfUp,
                            RoundingMode::kTflite}) {
    EXPECT_EQ(RoundReal(0.49999999999999994, mode), 0.0);
    EXPECT_EQ(RoundReal(-2.5000000000000004, mode), -3.0);
    EXPECT_EQ(RoundReal(1e300, mode), 1e300);
  }
}

// Every mode against the scalar oracle's independent roundings (tests/scalar_reference.h):
// wide accumulators, every shift, ties forced by power-of-two multipliers.
TEST(IntegerOpsTest, EveryRoundingModeMatchesTheOracle) {
  std::mt19937_64 rng(2026);
  std::uniform_int_distribution<int64_t> mantissa(int64_t{1} << 30, (int64_t{1} << 31) - 1);
  std::uniform_int_distribution<int> shift_of(0, 62), bits_of(0, 50);
  for (int i = 0; i < 200000; ++i) {
    FixedPointMultiplier f;
    f.m = i % 4 == 0 ? int64_t{1} << 30 : mantissa(rng);
    f.shift = shift_of(rng);
    int64_t acc = static_cast<int64_t>(rng() >> (63 - bits_of(rng))) - (int64_t{1} << bits_of(rng));
    for (RoundingMode mode : {RoundingMode::kHalfEven, RoundingMode::kHalfAway,
                              RoundingMode::kHalfUp, RoundingMode::kTflite}) {
      if (mode != RoundingMode::kTflite &&
          std::ldexp(std::fabs(static_cast<double>(acc)) * static_cast<double>(f.m), -f.shift) >=
              0x1p62) {
        continue;  // the exact modes' int64 result would overflow (the callers refuse this)
      }
      ASSERT_EQ(Requantize(acc, f, mode), testing::OracleRequantize(acc, f, mode))
          << RoundingModeName(mode) << " acc " << acc << " m " << f.m << " shift " << f.shift;
    }
  }
  for (int64_t count = 1; count <= 12; ++count) {
    for (int64_t sum = -300; sum <= 300; ++sum) {
      for (RoundingMode mode : {RoundingMode::kHalfEven, RoundingMode::kHalfAway,
                                RoundingMode::kHalfUp, RoundingMode::kTflite}) {
        ASSERT_EQ(RoundingDivide(sum, count, mode), testing::OracleRoundDivide(sum, count, mode))
            << RoundingModeName(mode) << " " << sum << " / " << count;
      }
    }
  }
}

// RequantizeErrorBound holds on every accumulator within RequantizeExactLimit, exactly (the
// comparison is |y * 2^shift - acc * m| <= bound * 2^shift, both sides exact), and is attained
// where ties are reachable (m = 2^30, shift >= 31): it is the worst case, not a loose bound.
TEST(IntegerOpsTest, RequantizeErrorBoundIsTheWorstCase) {
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<int64_t> mantissa(int64_t{1} << 30, (int64_t{1} << 31) - 1);
  for (RoundingMode mode : {RoundingMode::kHalfEven, RoundingMode::kHalfAway, RoundingMode::kHalfUp,
                            RoundingMode::kTflite}) {
    for (int shift = 20; shift <= 40; ++shift) {
      bool attained = false;
      for (int i = 0; i < 4000; ++i) {
        FixedPointMultiplier f;
        f.m = i % 2 == 0 ? int64_t{1} << 30 : mantissa(rng);
        f.shift = shift;
        const int64_t limit = std::min<int64_t>(RequantizeExactLimit(mode, f), 1 << 20);
        const int64_t acc = std::uniform_int_distribution<int64_t>(-limit, limit)(rng);
        const __int128 err =
            static_cast<__int128>(Requantize(acc, f, mode)) * (__int128{1} << shift) -
            static_cast<__int128>(acc) * f.m;
        const long double bound =
            std::ldexp(static_cast<long double>(RequantizeErrorBound(mode, f)), shift);
        const long double abs_err = static_cast<long double>(err < 0 ? -err : err);
        ASSERT_LE(abs_err, bound) << RoundingModeName(mode) << " acc " << acc << " shift " << shift;
        attained = attained || abs_err == bound;
      }
      if (shift >= 31) EXPECT_TRUE(attained) << RoundingModeName(mode) << " shift " << shift;
    }
  }
}

}  // namespace
}  // namespace qrepair
