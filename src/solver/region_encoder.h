// The verifier's Z3 leaves behind a Z3-free seam: does some input code of a box drive the
// network's logits into one of the clauses? Encoded exactly in linear integer arithmetic
// (region_encoder.cc), solved in a child process limited from outside (child_process.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "qrepair/solver/child_process.h"
#include "qrepair/solver/neuron_solver.h"
#include "verify/code_network.h"
#include "verify/interval_bounds.h"
#include "verify/output_constraints.h"

namespace qrepair {

struct RegionQuery {
  const CodeNetwork* net = nullptr;
  CodeBox box;                                       // input codes
  const std::vector<LayerBounds>* bounds = nullptr;  // sound accumulator ranges on `box`
  std::vector<const CodeClause*> clauses;            // a disjunction
  // Rows with at most this many codes are encoded by their thresholds, wider ones by the
  // requantization's division (tests set 0 to exercise the division encoding of every mode).
  int64_t max_thresholds = 256;
};

struct RegionSolveOptions {
  double time_limit_seconds = 10;
  uint64_t memory_limit_mb = 4096;
  uint64_t work_limit = 0;  // Z3 rlimit units, 0 = none
  bool isolate = true;      // in a child process (false: in this process, tests)
  const std::atomic<bool>* stop = nullptr;
  ChildLauncher* launcher = nullptr;
};

struct RegionAnswer {
  SolveStatus status = SolveStatus::kUnknown;
  std::vector<int64_t> codes;  // kSat: an input code point (to be confirmed by the caller)
  uint64_t work = 0;           // Z3 rlimit units
  std::string detail;          // kUnknown: why
};

RegionAnswer SolveRegion(const RegionQuery& query, const RegionSolveOptions& options);

}  // namespace qrepair
