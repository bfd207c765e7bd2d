// The SBFL formulas, each with its source. Notation: ef/ep = failing/passing samples that flag
// the neuron, nf/np = failing/passing samples that do not (see spectrum_formulas.h).
#include "rank/spectrum_formulas.h"

#include <cmath>

#include "qrepair/error.h"

namespace qrepair {

namespace {

// a / b, or 0 when b is 0 (an empty class of samples carries no evidence).
double Ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// Tarantula: J. A. Jones and M. J. Harrold, "Empirical evaluation of the Tarantula automatic
// fault-localization technique", ASE 2005.
//   (ef/(ef+nf)) / (ef/(ef+nf) + ep/(ep+np))
double Tarantula(double ef, double ep, double nf, double np) {
  double failed = Ratio(ef, ef + nf);
  double passed = Ratio(ep, ep + np);
  return Ratio(failed, failed + passed);
}

// Ochiai: R. Abreu, P. Zoeteweij and A. J. C. van Gemund, "An evaluation of similarity
// coefficients for software fault localization", PRDC 2006.
//   ef / sqrt((ef+nf) (ef+ep))
double Ochiai(double ef, double ep, double nf, double np) {
  return Ratio(ef, std::sqrt((ef + nf) * (ef + ep)));
}

// DStar (D*): W. E. Wong, V. Debroy, R. Gao and Y. Li, "The DStar method for effective software
// fault localization", IEEE Transactions on Reliability 63(1), 2014.
//   ef^* / (ep + nf)
// When ep + nf = 0 the neuron is flagged on every failing and no passing sample, the best
// spectrum there is; the formula tends to infinity, and we use ef^* / (1/2), which is above the
// score of every neuron with ep + nf >= 1 (those score at most ef^* with ef <= the same total).
double DStar(double ef, double ep, double nf, int star) {
  double numerator = std::pow(ef, star);
  double denominator = ep + nf;
  return denominator > 0 ? numerator / denominator : 2.0 * numerator;
}

// Jaccard: M. Y. Chen, E. Kiciman, E. Fratkin, A. Fox and E. Brewer, "Pinpoint: problem
// determination in large, dynamic Internet services", DSN 2002.
//   ef / (ef + nf + ep)
double Jaccard(double ef, double ep, double nf, double np) { return Ratio(ef, ef + nf + ep); }

// Euclid: as listed by L. Naish, H. J. Lee and K. Ramamohanarao, "A model for spectra-based
// software diagnosis", ACM TOSEM 20(3), 2011, and used by QNNRepair (X. Song et al., 2023).
//   sqrt(ef + np)
double Euclid(double ef, double ep, double nf, double np) { return std::sqrt(ef + np); }

// AMPLE (Dallmeier, Lindig and Zeller, 2005), in the form of Naish et al. 2011, as used by
// QNNRepair:
//   | ef/(ef+nf) - ep/(ep+np) |
double Ample(double ef, double ep, double nf, double np) {
  return std::abs(Ratio(ef, ef + nf) - Ratio(ep, ep + np));
}

// Wong3 (Wong, Qi, Zhao and Cai, 2007), in the form of Naish et al. 2011, as used by QNNRepair:
//   ef - h,  h = ep                       if ep <= 2
//              = 2 + 0.1 (ep - 2)         if 2 < ep <= 10
//              = 2.8 + 0.001 (ep - 10)    if ep > 10
double Wong3(double ef, double ep, double nf, double np) {
  double h = ep <= 2 ? ep : (ep <= 10 ? 2 + 0.1 * (ep - 2) : 2.8 + 0.001 * (ep - 10));
  return ef - h;
}

}  // namespace

bool IsSpectrumMethod(RankMethod method) {
  switch (method) {
    case RankMethod::kTarantula:
    case RankMethod::kOchiai:
    case RankMethod::kDStar2:
    case RankMethod::kDStar3:
    case RankMethod::kJaccard:
    case RankMethod::kEuclid:
    case RankMethod::kAmple:
    case RankMethod::kWong3:
      return true;
    default:
      return false;
  }
}

double SpectrumScore(RankMethod method, const SpectrumCounts& c) {
  const double ef = static_cast<double>(c.ef), ep = static_cast<double>(c.ep);
  const double nf = static_cast<double>(c.nf), np = static_cast<double>(c.np);
  switch (method) {
    case RankMethod::kTarantula:
      return Tarantula(ef, ep, nf, np);
    case RankMethod::kOchiai:
      return Ochiai(ef, ep, nf, np);
    case RankMethod::kDStar2:
      return DStar(ef, ep, nf, 2);
    case RankMethod::kDStar3:
      return DStar(ef, ep, nf, 3);
    case RankMethod::kJaccard:
      return Jaccard(ef, ep, nf, np);
    case RankMethod::kEuclid:
      return Euclid(ef, ep, nf, np);
    case RankMethod::kAmple:
      return Ample(ef, ep, nf, np);
    case RankMethod::kWong3:
      return Wong3(ef, ep, nf, np);
    default:
      throw InternalError(std::string("SpectrumScore: '") + RankMethodName(method) +
                          "' is not a spectrum formula");
  }
}

}  // namespace qrepair
