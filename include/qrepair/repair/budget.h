// The time and Z3 work a job may use, as one value carried from the command line to each solver
// call. The job's wall-clock limit and one solver call's limit are different things and are
// named apart: `job_seconds` covers load, init, SMT stage and the final check; `call_seconds`
// one solver process (killed from outside after it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "qrepair/solver/neuron_solver.h"

namespace qrepair {

// What the user allows (flags, manifest keys), before any clock runs.
struct BudgetLimits {
  double job_seconds = 120;  // wall clock for the whole job, the init included
  uint64_t job_work = 0;     // Z3 resource units for the whole job; 0 = off (docs/repair.md)
  double call_seconds = 30;  // one solver call; it is killed from outside after this
  uint64_t call_work = 100 * kWorkUnit;  // one solver call; 0 = only the job's budget
  uint64_t call_memory_mb = 4096;        // one solver process's address space
};

// A running budget: the limits, the deadline they give from the moment the job started, and the
// stop flag set by SIGINT/SIGTERM. Copies share the deadline; Reserve() gives an earlier one.
class Budget {
 public:
  using Clock = std::chrono::steady_clock;

  Budget() = default;  // no time at all: TimeUp() at once (start one with Start)
  static Budget Start(const BudgetLimits& limits, const std::atomic<bool>* stop = nullptr);

  const BudgetLimits& limits() const { return limits_; }
  Clock::time_point deadline() const { return deadline_; }
  double SecondsLeft() const;
  bool TimeUp() const { return SecondsLeft() <= 0; }
  bool Stopped() const { return stop_ != nullptr && stop_->load(); }
  const std::atomic<bool>* stop() const { return stop_; }
  // The whole job's Z3 work is spent (never, without a job_work limit).
  bool OutOfWork(uint64_t work_used) const;

  // The same budget ending `seconds` earlier: time kept back for the stages that follow.
  Budget Reserve(double seconds) const;

  // One solver call's limits: the call's own, capped by the time and the work the job has left
  // (at least 0.2 s, so that a call started near the deadline can still answer). Fills
  // solve_time_limit_seconds, work_limit, memory_limit_mb and stop of `call`.
  void LimitCall(SolverOptions& call, uint64_t work_used) const;
  // Only the time cap of LimitCall (a call of a group whose work was capped for the group).
  void LimitCallTime(SolverOptions& call) const;

 private:
  BudgetLimits limits_;
  Clock::time_point deadline_{};
  const std::atomic<bool>* stop_ = nullptr;
};

}  // namespace qrepair
