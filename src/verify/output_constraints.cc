// Property -> exact code regions and integer output constraints (maths in output_constraints.h).
#include "verify/output_constraints.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"

namespace qrepair {

namespace {

mpq_class Pow2(long e) {
  mpq_class p = 1;
  if (e >= 0) {
    mpz_mul_2exp(p.get_num_mpz_t(), p.get_num_mpz_t(), static_cast<mp_bitcnt_t>(e));
  } else {
    mpz_mul_2exp(p.get_den_mpz_t(), p.get_den_mpz_t(), static_cast<mp_bitcnt_t>(-e));
  }
  return p;
}

mpz_class Floor(const mpq_class& q) {
  mpz_class f;
  mpz_fdiv_q(f.get_mpz_t(), q.get_num_mpz_t(), q.get_den_mpz_t());
  return f;
}

mpz_class Ceil(const mpq_class& q) {
  mpz_class f;
  mpz_cdiv_q(f.get_mpz_t(), q.get_num_mpz_t(), q.get_den_mpz_t());
  return f;
}

// Orders float32 values as unsigned integers (negative ones reversed): a monotone key.
uint32_t Key(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

float FromKey(uint32_t k) {
  uint32_t b = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

}  // namespace

float NearestFloat(const mpq_class& q) {
  if (sgn(q) == 0) return 0.0f;
  const bool negative = sgn(q) < 0;
  const mpq_class a = abs(q);
  // e = floor(log2 a)
  long e = static_cast<long>(mpz_sizeinbase(a.get_num_mpz_t(), 2)) -
           static_cast<long>(mpz_sizeinbase(a.get_den_mpz_t(), 2));
  while (a < Pow2(e)) --e;
  while (a >= Pow2(e + 1)) ++e;
  if (e > 127)
    return negative ? -std::numeric_limits<float>::infinity()
                    : std::numeric_limits<float>::infinity();
  // Units of the last place: 2^(e-23) for normal numbers, 2^-149 below 2^-126.
  const long k = e >= -126 ? 23 - e : 149;
  const mpq_class scaled = a * Pow2(k);
  mpz_class m = Floor(scaled);
  const mpq_class rest = scaled - mpq_class(m);
  if (rest > mpq_class(1, 2) || (rest == mpq_class(1, 2) && mpz_odd_p(m.get_mpz_t()))) ++m;
  const double v = std::ldexp(m.get_d(), static_cast<int>(-k));  // exact: m <= 2^24
  if (v > std::numeric_limits<float>::max()) {
    return negative ? -std::numeric_limits<float>::infinity()
                    : std::numeric_limits<float>::infinity();
  }
  return static_cast<float>(negative ? -v : v);
}

bool CodeConstraint::Holds(const std::vector<int64_t>& logits) const {
  mpz_class sum = 0;
  for (size_t j = 0; j < a.size(); ++j) {
    if (sgn(a[j]) != 0) sum += a[j] * static_cast<long>(logits[j]);  // LP64: long is 64-bit
  }
  return sum <= bound;
}

double CodeConstraint::Margin(const std::vector<int64_t>& logits) const {
  double sum = -bound.get_d();
  for (size_t j = 0; j < a.size(); ++j) sum += a[j].get_d() * static_cast<double>(logits[j]);
  return sum;
}

bool CodeClause::Holds(const std::vector<int64_t>& logits) const {
  for (const CodeConstraint& c : constraints) {
    if (!c.Holds(logits)) return false;
  }
  return true;
}

double CodeClause::Margin(const std::vector<int64_t>& logits) const {
  double m = -std::numeric_limits<double>::infinity();
  for (const CodeConstraint& c : constraints) m = std::max(m, c.Margin(logits));
  return m;
}

CodeConstraint ToCodeConstraint(const OutputConstraint& c, double output_scale,
                                int64_t output_zero_point) {
  mpz_class d = 1;
  for (const Rational& x : c.coefficients) mpz_lcm(d.get_mpz_t(), d.get_mpz_t(), x.get_den_mpz_t());
  const mpq_class s(output_scale);  // exact: a double is a dyadic rational
  const int sign = sgn(s);
  if (sign == 0) throw InternalError("verifier: the logits' scale is 0");
  CodeConstraint out;
  out.a.resize(c.coefficients.size());
  for (size_t j = 0; j < c.coefficients.size(); ++j) {
    mpq_class p = c.coefficients[j] * mpq_class(d);  // an integer
    out.a[j] = sign > 0 ? p.get_num() : mpz_class(-p.get_num());
  }
  // Y_j = S (y_j - z): sum_j a_j y_j <= b D / |S| + z sum_j a_j, the last term an integer.
  const mpq_class r = c.bound * mpq_class(d) / abs(s);
  out.bound = c.strict ? mpz_class(Ceil(r) - 1) : Floor(r);
  mpz_class a_sum = 0;
  for (const mpz_class& x : out.a) a_sum += x;
  out.bound += a_sum * mpz_class(std::to_string(output_zero_point));
  mpz_class g = 0;
  for (const mpz_class& x : out.a) mpz_gcd(g.get_mpz_t(), g.get_mpz_t(), x.get_mpz_t());
  if (g == 0) {  // 0 <= bound: always or never
    out.bound = out.bound >= 0 ? 0 : -1;
  } else if (g > 1) {
    for (mpz_class& x : out.a) x /= g;
    mpz_fdiv_q(out.bound.get_mpz_t(), out.bound.get_mpz_t(), g.get_mpz_t());
  }
  out.a_double.resize(static_cast<Eigen::Index>(out.a.size()));
  out.a_exact = true;
  for (size_t j = 0; j < out.a.size(); ++j) {
    out.a_double[static_cast<Eigen::Index>(j)] = out.a[j].get_d();
    if (abs(out.a[j]) > mpz_class("9007199254740992")) out.a_exact = false;
  }
  return out;
}

CodeRegion ToCodeRegion(const QuantizedNetwork& network, const CodeNetwork& net,
                        const UnsafeRegion& region) {
  CodeRegion out;
  const int n = net.inputs;
  FloatBatch lo(n, 1), hi(n, 1);
  out.lower_f32.resize(n);
  out.upper_f32.resize(n);
  for (int i = 0; i < n; ++i) {
    if (region.box.lower[i] > region.box.upper[i]) out.empty = true;
    lo(i, 0) = out.lower_f32[i] = NearestFloat(region.box.lower[i]);
    hi(i, 0) = out.upper_f32[i] = NearestFloat(region.box.upper[i]);
  }
  const CodeBatch code_lo = QuantizeInput(network, lo), code_hi = QuantizeInput(network, hi);
  out.box.lo.resize(n);
  out.box.hi.resize(n);
  for (int i = 0; i < n; ++i) {
    out.box.lo[i] = code_lo(i, 0);
    out.box.hi[i] = code_hi(i, 0);
    if (out.box.lo[i] > out.box.hi[i]) out.empty = true;
  }
  for (const OutputClause& clause : region.clauses) {
    CodeClause cc;
    for (const OutputConstraint& c : clause.constraints)
      cc.constraints.push_back(ToCodeConstraint(c, net.output_scale, net.output_zero_point));
    out.clauses.push_back(std::move(cc));
  }
  return out;
}

std::optional<std::vector<float>> InputForCodes(const QuantizedNetwork& network,
                                                const CodeRegion& region,
                                                const std::vector<int64_t>& codes) {
  const int n = static_cast<int>(codes.size());
  FloatBatch x(n, 1);
  for (int i = 0; i < n; ++i) x(i, 0) = region.lower_f32[i];
  for (int i = 0; i < n; ++i) {
    // The smallest float of [lower, upper] whose code is >= codes[i] (codes are monotone).
    uint32_t lo = Key(region.lower_f32[i]), hi = Key(region.upper_f32[i]);
    auto code_at = [&](uint32_t k) {
      x(i, 0) = FromKey(k);
      return static_cast<int64_t>(QuantizeInput(network, x)(i, 0));
    };
    if (code_at(hi) < codes[i]) return std::nullopt;
    while (lo < hi) {
      const uint32_t mid = lo + (hi - lo) / 2;
      if (code_at(mid) >= codes[i]) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    if (code_at(lo) != codes[i]) return std::nullopt;
  }
  std::vector<float> out(n);
  for (int i = 0; i < n; ++i) out[i] = x(i, 0);
  return out;
}

}  // namespace qrepair
