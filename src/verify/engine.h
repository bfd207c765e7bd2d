// The verifier's engine knobs that are not part of the public VerifyOptions: tests force Z3
// leaves or point leaves with them, and the soundness-mutation test runs a deliberately unsound
// bound (rounding error left out, zero point ignored) to show that the exhaustive oracle catches
// wrong verdicts.
#pragma once

#include "qrepair/solver/child_process.h"
#include "qrepair/verify/verifier.h"
#include "verify/symbolic_bounds.h"

namespace qrepair {

struct EngineOptions {
  BoundOptions bounds;       // mutation: the unsound variants; symbolic = false: intervals
  bool bounds_close = true;  // false: bounds never close a box (points and Z3 leaves do)
  bool falsify = true;       // the search for counterexamples before branching
  bool smt = true;           // Z3 leaves
  bool smt_isolate = true;   // Z3 in a child process
  // A box goes to Z3 when it has at most this many unstable rows and more than
  // smt_min_points code points, or when it is max_depth splits deep.
  int smt_max_unstable = 4;
  double smt_min_points = 64;
  int max_depth = 60;
  int64_t smt_max_thresholds = 256;  // RegionQuery::max_thresholds (0: every row by division)
  ChildLauncher* launcher = nullptr;
};

VerifyResult VerifyWithEngine(const QuantizedNetwork& network, const Property& property,
                              const VerifyOptions& options, const EngineOptions& engine);

}  // namespace qrepair
