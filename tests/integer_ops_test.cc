// Tests of the integer arithmetic definitions against independent formulations.
#include "qrepair/quant/integer_ops.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

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

}  // namespace
}  // namespace qrepair
