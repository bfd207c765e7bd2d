// The solver seam: a NeuronRepairProblem in, a patch out. Only src/solver/ includes z3++.h.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "qrepair/repair/repair_problem.h"
#include "qrepair/solver/child_process.h"

namespace qrepair {

enum class Encoding {
  kBitVector,      // weight deltas as bit-vectors, accumulators as wide bit-vector sums
  kPseudoBoolean,  // the deltas' two's-complement bits as Booleans, constraints as PB sums
  kLinearInteger,  // deltas as bounded integers, linear integer arithmetic (arith.solver=2)
};
Encoding ParseEncoding(const std::string& name);  // "bv", "pb", "lia"; throws Error(kUsage)
const char* EncodingName(Encoding encoding);

struct SolverOptions {
  Encoding encoding = Encoding::kPseudoBoolean;
  double solve_time_limit_seconds = 10;  // per solve, enforced from outside (child process + kill)
  uint64_t memory_limit_mb = 4096;       // Z3 memory_max_size and the child's address-space limit
  double check_time_limit_seconds = 2;   // per check() call; a timed-out batch is split
  // Deterministic budget in Z3 resource units (its "rlimit" count), 0 = off. When set, each
  // check() gets at most work_limit / kChecksPerWorkLimit units (instead of
  // check_time_limit_seconds) and the solve stops once it has used work_limit: the outcome no
  // longer depends on the machine's speed or load. The time limits stay as a safety net.
  uint64_t work_limit = 0;
  int max_checks = 200;        // check() calls per problem
  int max_changes = 0;         // at most this many weights (and bias) of the neuron change; 0 = any
  int initial_hard_rows = 64;  // passing rows encoded up front; the rest when a model breaks them
  bool isolate = true;         // solve in a child process (false: in this thread)
  ChildLauncher* launcher = nullptr;        // starts the solver processes; null: the default fork
  const std::atomic<bool>* stop = nullptr;  // SIGINT/SIGTERM: abandon the solve (kUnknown) at once
};

// The CLI's and manifests' work limits count millions of Z3 resource units.
constexpr uint64_t kWorkUnit = 1000000;

// A check() may use at most this fraction (1/k) of a solve's work_limit.
constexpr uint64_t kChecksPerWorkLimit = 5;

enum class SolveStatus { kSat, kUnsat, kUnknown };
const char* SolveStatusName(SolveStatus status);

struct SolveOutcome {
  SolveStatus status = SolveStatus::kUnknown;
  NeuronPatch patch;                // valid when kSat
  std::vector<int64_t> fixed_rows;  // failing rows (indices into problem.rows) the patch fixes
  int checks = 0;                   // solver check() calls
  int sat = 0, unsat = 0, unknown = 0;
  double seconds = 0;
  uint64_t work = 0;   // Z3 resource units used (its "rlimit count")
  std::string detail;  // why unknown (timeout, memory, killed)
};

// Finds new weights keeping every passing row right and fixing as many failing rows as it can:
// failing rows are added in batches (easiest first); a batch that is unsat (or times out) is
// split in halves down to single rows, which are then skipped. Deterministic for the same problem
// and options (timeouts aside).
SolveOutcome SolveNeuron(const NeuronRepairProblem& problem, const SolverOptions& options);

// SolveNeuron for several problems, with up to `jobs` solver processes at once. options_for(i)
// is asked just before problem i starts and gives its options, or nullopt to skip it (its
// outcome stays an empty kUnknown). Every child is forked, waited for and killed by the calling
// thread (RunChildPool, child_process.h).
std::vector<SolveOutcome> SolveNeurons(
    const std::vector<NeuronRepairProblem>& problems, int jobs,
    const std::function<std::optional<SolverOptions>(size_t)>& options_for);

}  // namespace qrepair
