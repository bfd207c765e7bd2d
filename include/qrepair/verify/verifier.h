// The verifier: decides a Property (property.h) exactly for the integer semantics of a
// QuantizedNetwork, the same semantics as the reference integer pass (quant/forward.h).
//
// Inputs: the deployed network receives float32 inputs; each real x of a box is first rounded to
// the nearest float32, then coded by QuantizeInput (monotone), so a box of reals is exactly a box
// of input codes [code(f32(lower)), code(f32(upper))] per input. Outputs: Y_j is the logit code of
// output j times its scale (and its sign flipped when the config's decision is argmin, because
// the last layer is negated in memory: Y is in the model file's orientation). Output constraints
// are compared exactly (rationals), never with a floating-point slack.
//
// A kViolated result always carries a counterexample that the reference integer pass confirmed
// in the same run; an unconfirmed candidate is an internal error, never a result.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qrepair/model/quantized_network.h"
#include "qrepair/verify/property.h"

namespace qrepair {

enum class Verdict { kHolds, kViolated, kUnknown };
const char* VerdictName(Verdict verdict);  // "holds", "violated", "unknown" (VNN-COMP's words)

struct Counterexample {
  int region = 0;  // index into Property::regions
  int clause = 0;  // index into that region's clauses
  // A point inside the region's real box that the network receives as `codes`: per input the
  // float32 itself when it lies in the box, else the box's end (as a double) that rounds to that
  // float32 (f32(lower) can lie below lower). VNN-COMP's checkers require the point in the box.
  std::vector<double> input;
  std::vector<int64_t> codes;   // its input codes
  std::vector<int64_t> logits;  // the reference integer pass's output codes
  std::vector<double> output;   // Y_j (dequantized, file orientation)
};

struct VerifyOptions {
  double time_limit_seconds = 0;        // the whole property, wall clock; 0 = none
  uint64_t work_limit = 0;              // deterministic budget (README: work units); 0 = none
  double leaf_time_limit_seconds = 10;  // one Z3 leaf, enforced from outside (child + kill)
  uint64_t leaf_work_limit = 0;     // one Z3 leaf's rlimit units (0 = none): a leaf that gives up
                                    // on it does so on every machine (the time stays a safety net)
  uint64_t memory_limit_mb = 4096;  // per solver process
  int jobs = 1;  // instances or samples at once (RunInstances, certify); one property runs in one
  uint64_t seed = 1;                        // falsification's random points
  const std::atomic<bool>* stop = nullptr;  // SIGINT/SIGTERM: return kUnknown at once
};

struct VerifyStats {
  int64_t branches = 0;       // boxes split
  int64_t leaves_bounds = 0;  // sub-boxes closed by bound propagation
  int64_t leaves_points = 0;  // single code points decided by the reference pass
  int64_t leaves_smt = 0;     // sub-boxes closed by Z3
  int64_t smt_unknown = 0;    // Z3 leaves that hit a limit
  int64_t falsification_points = 0;
  double proved_fraction = 0;  // share of the input codes already proved safe, 0..1
  double seconds_bounds = 0, seconds_smt = 0, seconds_falsify = 0;
  uint64_t work = 0;  // work units used
};

struct VerifyResult {
  Verdict verdict = Verdict::kUnknown;
  std::string reason;  // kUnknown: which limit (time, work, interrupted, leaf limits)
  std::optional<Counterexample> counterexample;  // set iff kViolated
  VerifyStats stats;
  double seconds = 0;
};

// Throws Error(kBadInput) naming property.source when the property's input or output count
// does not match the network.
VerifyResult VerifyProperty(const QuantizedNetwork& network, const Property& property,
                            const VerifyOptions& options);

}  // namespace qrepair
