// A Property (property.h) in the verifier's terms: each region's real input box as a box of
// input codes, and each output constraint as an integer-linear constraint over the logit codes,
// both exact.
//
// Inputs: a real x becomes f32(x) (round to nearest float32, ties to even) and then its code by
// QuantizeInput, non-decreasing in x (positive divisors, checked by BuildCodeNetwork); so the real
// box [l, u] gives the code box [code(f32(l)), code(f32(u))] per input.
// Outputs: Y_j = S (y_j - z) with S the logits' scale (negative for argmin), an exact rational (a
// double), and z their zero point (0 unless the logits are requantized to asymmetric codes). A
// constraint sum_j c_j Y_j <= b (or < b): with D the common denominator of the c_j and
// p_j = c_j D integers, it reads S sum_j p_j (y_j - z) <= b D, i.e. sum_j a_j y_j <= R + z sum_j
// a_j with a = sign(S) p and R = b D / |S|. The left side and z sum_j a_j are integers, so "<= R"
// is "<= floor(R)" and "< R" is "<= ceil(R) - 1"; finally a and the bound are divided by gcd(a).
// All in GMP.
#pragma once

#include <gmpxx.h>

#include <Eigen/Core>
#include <optional>
#include <vector>

#include "qrepair/model/quantized_network.h"
#include "qrepair/verify/property.h"
#include "verify/code_network.h"
#include "verify/interval_bounds.h"

namespace qrepair {

// sum_j a_j y_j <= bound over the logit codes y.
struct CodeConstraint {
  std::vector<mpz_class> a;
  mpz_class bound;
  // a in doubles, and whether that is exact (|a_j| <= 2^53): only exact ones go to the bounds.
  Eigen::VectorXd a_double;
  bool a_exact = false;

  bool Holds(const std::vector<int64_t>& logits) const;
  // sum_j a_j y_j - bound, in double (for search heuristics only).
  double Margin(const std::vector<int64_t>& logits) const;
};

struct CodeClause {
  std::vector<CodeConstraint> constraints;  // a conjunction
  bool Holds(const std::vector<int64_t>& logits) const;
  // max over constraints of their margins: <= 0 iff the clause holds (up to double rounding).
  double Margin(const std::vector<int64_t>& logits) const;
};

struct CodeRegion {
  bool empty = false;  // no real point of the box (lower > upper somewhere)
  CodeBox box;
  std::vector<float> lower_f32, upper_f32;  // f32 of the box's ends
  std::vector<CodeClause> clauses;          // a disjunction
};

float NearestFloat(const mpq_class& q);  // round to nearest float32, ties to even; exact

CodeConstraint ToCodeConstraint(const OutputConstraint& c, double output_scale,
                                int64_t output_zero_point = 0);
CodeRegion ToCodeRegion(const QuantizedNetwork& network, const CodeNetwork& net,
                        const UnsafeRegion& region);

// A float32 input per coordinate inside [lower_f32, upper_f32] whose code is `codes`, or nullopt
// when some code is reached by no float32 of the box (coarse input normalizations can skip codes).
std::optional<std::vector<float>> InputForCodes(const QuantizedNetwork& network,
                                                const CodeRegion& region,
                                                const std::vector<int64_t>& codes);

}  // namespace qrepair
