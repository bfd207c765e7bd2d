// Budget: deadlines and per-call limits derived from one set of limits.
#include "qrepair/repair/budget.h"

#include <algorithm>

namespace qrepair {

namespace {
// A call started close to the deadline still gets this long: it may find the patch that a
// nearly finished job is waiting for, and the kill after it is cheap.
constexpr double kMinCallSeconds = 0.2;
}  // namespace

Budget Budget::Start(const BudgetLimits& limits, const std::atomic<bool>* stop) {
  Budget b;
  b.limits_ = limits;
  b.stop_ = stop;
  b.deadline_ =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(std::max(0.0, limits.job_seconds)));
  return b;
}

double Budget::SecondsLeft() const {
  return std::chrono::duration<double>(deadline_ - Clock::now()).count();
}

bool Budget::OutOfWork(uint64_t work_used) const {
  return limits_.job_work > 0 && work_used >= limits_.job_work;
}

Budget Budget::Reserve(double seconds) const {
  Budget b = *this;
  b.deadline_ -= std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::max(0.0, seconds)));
  return b;
}

void Budget::LimitCallTime(SolverOptions& call) const {
  call.solve_time_limit_seconds =
      std::max(kMinCallSeconds, std::min(call.solve_time_limit_seconds, SecondsLeft()));
}

void Budget::LimitCall(SolverOptions& call, uint64_t work_used) const {
  call.solve_time_limit_seconds = limits_.call_seconds;
  call.memory_limit_mb = limits_.call_memory_mb;
  call.work_limit = limits_.call_work;
  call.stop = stop_;
  LimitCallTime(call);
  if (limits_.job_work > 0) {
    const uint64_t left = limits_.job_work - std::min(limits_.job_work, work_used);
    call.work_limit = call.work_limit > 0 ? std::min(call.work_limit, left) : left;
  }
}

}  // namespace qrepair
