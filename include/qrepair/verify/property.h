// A verification property as plain values: the UNSAFE set that a VNN-LIB file describes. The
// VNN-LIB parser (vnnlib.h) and the data-set certification fill it; the verifier reads it.
// Constants are exact rationals (GMP), exactly as written in the file: no comparison anywhere
// in the verifier uses a floating-point slack.
//
// Meaning: the property is VIOLATED iff some region r has an input point x in r.box (every
// coordinate lower <= x_i <= upper) whose outputs Y satisfy at least one clause of r (every
// constraint of the clause). It HOLDS iff no such point exists. Y_j are the network's outputs in
// the model file's orientation (see verifier.h for how integer logits become Y).
#pragma once

#include <gmpxx.h>

#include <string>
#include <vector>

namespace qrepair {

using Rational = mpq_class;

struct InputBox {
  std::vector<Rational> lower;  // one per network input, inclusive
  std::vector<Rational> upper;  // one per network input, inclusive
};

// sum_j coefficients[j] * Y_j <= bound  (or < bound when strict). VNN-LIB only writes <= and >=
// (a >= is stored negated); strict constraints come from decisions with ties ("the top-1 is not
// t": Y_k > Y_t for k > t, Y_k >= Y_t for k < t, since argmax ties go to the lowest index).
struct OutputConstraint {
  std::vector<Rational> coefficients;  // one per output, zeros allowed
  Rational bound;
  bool strict = false;
};

// A conjunction of output constraints.
struct OutputClause {
  std::vector<OutputConstraint> constraints;
};

// One disjunct of the unsafe set: inputs in `box` whose outputs satisfy any of `clauses`.
struct UnsafeRegion {
  InputBox box;
  std::vector<OutputClause> clauses;  // a disjunction; never empty
};

struct Property {
  std::string source;  // the file it came from (messages, reports)
  std::string name;    // short name for tables, e.g. the file's stem "prop_6"
  int num_inputs = 0;
  int num_outputs = 0;
  std::vector<UnsafeRegion> regions;  // a disjunction; never empty
};

}  // namespace qrepair
