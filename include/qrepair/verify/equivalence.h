// Equivalence of the float network and the deployed integer network on a ball of inputs: for
// every grid point of the ball (every point, for real-valued data), the float network's top-1 in
// exact real arithmetic equals the integer network's top-1 (ties to the lowest index in both).
//
// The search is branch and bound over boxes of raw values. On each box the float network's
// outputs are bounded soundly (float_chain.h: exact weights, DeepPoly lines for the ReLUs,
// outward-rounded doubles). When the bounds prove the float top-1 constant, say c, on the box,
// the verifier decides whether the integer network keeps c on every grid point of it
// (VerifyBallDecision: bounds, branch and bound and Z3 leaves): it does, and the box is closed, or
// its counterexample is a point where the two decisions differ. Otherwise the box's centre is
// tried and the box is split along the input that moves the float bound closest to failing most.
// A single grid point is decided exactly.
//
// A point is a counterexample when the exact rational evaluation of the float network and the
// reference integer pass give different top-1s, and the float32 pass (what `qrepair eval`
// computes) agrees with the exact one. When it does not, the float32 pass is too close to a tie
// there to confirm the point, and the answer is "unknown" with that reason, not a guess.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/verify/certify.h"
#include "qrepair/verify/local_robustness.h"

namespace qrepair {

struct EquivalenceAnswer {
  std::string verdict;      // "equivalent", "non-equivalent", "unknown"
  std::string reason;       // unknown: why
  std::vector<double> raw;  // non-equivalent (or a tie): the point, raw units
  int float_top1 = -1;      // there, exact (= the float32 pass's for non-equivalent)
  int quant_top1 = -1;      // there, the reference integer pass
  int64_t boxes = 0;        // boxes bounded
  int verifier_calls = 0;   // integer-network calls (VerifyBallDecision)
};

// Deliberately unsound variants for the tests (the enumeration oracle must catch them).
enum class EquivalenceMutation {
  kNone,
  kTrustFloatAlone,   // a box is closed once the float top-1 is proved constant on it
  kChordThroughZero,  // an unstable ReLU's upper line through the origin (float_chain.h)
};

struct EquivalenceEngine {
  int64_t max_boxes = 200000;  // then "unknown" (box limit)
  int max_depth = 200;         // splits of real-valued boxes before giving up on one
  EquivalenceMutation mutation = EquivalenceMutation::kNone;
};

// `sample` (raw units) is tried first. `float_network` and `network` are the in-memory pair (the
// same orientation: both decide by argmax). Throws Error(kBadInput) naming `name` for a float
// layer the check does not handle (float_chain.h).
EquivalenceAnswer CheckEquivalence(const QuantizedNetwork& network, const Network& float_network,
                                   const RawInputMap& map, const RawBall& ball,
                                   const std::vector<double>& sample, const VerifyOptions& limits,
                                   const VerifierFn& verifier, const std::string& name,
                                   const EquivalenceEngine& engine = {});

}  // namespace qrepair
