// Spectrum-based fault localization (SBFL) formulas: suspiciousness of a neuron from how often
// its spectrum flags it on failing and on passing samples.
#pragma once

#include <cstdint>

#include "qrepair/rank/ranking.h"

namespace qrepair {

// The four counts every SBFL formula is written over, for one neuron:
//   ef / ep: failing / passing samples on which the neuron is flagged,
//   nf / np: failing / passing samples on which it is not.
struct SpectrumCounts {
  int64_t ef = 0;
  int64_t ep = 0;
  int64_t nf = 0;
  int64_t np = 0;
};

// True for the methods this file scores (Tarantula ... Wong3).
bool IsSpectrumMethod(RankMethod method);

// Suspiciousness under `method` (higher = more suspicious). Never NaN or infinite: a ratio with a
// zero denominator is given the value the formula tends to (see each formula). Throws
// InternalError for a method that is not a spectrum method.
double SpectrumScore(RankMethod method, const SpectrumCounts& c);

}  // namespace qrepair
