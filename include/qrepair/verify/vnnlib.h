// The VNN-LIB reader: the subset of SMT-LIB that VNN-COMP's benchmarks use, read into the plain
// Property of property.h (the unsafe set as a disjunction of input boxes with output clauses).
//
// Accepted: `;` comments; `(declare-const X_i Real)` and `(declare-const Y_j Real)` (inputs and
// outputs, indices 0..n-1, each once); `(assert F)` where F is an atom or `(and F...)` /
// `(or F...)`; an atom is `(<= a b)` or `(>= a b)` between linear terms: a variable, a constant
// (integer, decimal or scientific notation, read as an exact rational: 0.1 is 1/10), `(+ t...)`,
// `(- t)`, `(- t t...)` and `(* t t...)` with at most one non-constant factor. The conjunction
// of the asserts is brought to disjunctive normal form; each disjunct's input atoms must be
// bounds on one input each (together a bounded box) and its output atoms become one clause.
// Disjuncts with the same box share a region; disjuncts whose box is empty are dropped.
#pragma once

#include <string>

#include "qrepair/verify/property.h"

namespace qrepair {

// Throws Error(kBadInput) "PATH:LINE:COL: message" (with the line and a `^ near here` marker)
// when the file cannot be read or is not in the subset above. The network's input and output
// counts are not checked here (VerifyProperty does).
Property ParseVnnlib(const std::string& path);

// The same for text already in memory; `source` names it in messages and Property::source.
Property ParseVnnlibText(const std::string& text, const std::string& source);

}  // namespace qrepair
