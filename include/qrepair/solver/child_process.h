// Solver processes: a piece of work (a Z3 solve) runs in a forked child whose wall time and
// address space are limited from outside, because Z3 4.8.12 may ignore its own timeout and may
// allocate without bound. Z3-free: the repair's per-neuron solves and the verifier's leaves use
// it, and tests inject a launcher (a child that never answers, a fork counter).
//
// Every child is forked, waited for and killed by the calling thread, with no other thread of
// ours running: a child forked while another thread holds a lock (the allocator's, a logger's)
// finds it held forever and hangs until it is killed at the time limit (seen under ASan with
// --jobs 2: the allocator's lock).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace qrepair {

struct ChildLimits {
  double seconds = 10;              // wall clock from the fork; the child is killed after it
  uint64_t memory_limit_mb = 4096;  // address space on top of what the parent had mapped
  const std::atomic<bool>* stop = nullptr;  // set: the child is killed at once
};

// The body runs in the child; the text it returns is sent back through a pipe.
using ChildBody = std::function<std::string()>;

// A running child (move-only handle, owned by the thread that started it).
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(pid_t pid, int fd, const ChildLimits& limits);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();  // kills and reaps a child not finished yet

  int fd() const { return fd_; }
  double Seconds() const;
  double SecondsLeft() const { return limits_.seconds - Seconds(); }
  // Reads what the child wrote; true once it has closed its end (or the pipe failed).
  bool Read();
  // Why the child must be killed now ("stopped by a signal", "killed at the time limit"), or null.
  const char* KillReason() const;

  struct Outcome {
    bool killed = false;  // by the parent (time limit, stop); `detail` says why
    std::string text;     // what the child wrote (possibly cut short)
    // killed: the reason; otherwise how the child ended, for when `text` is not a result
    // ("solver process died (signal 9, memory limit?)", "solver process gave no result").
    std::string detail;
    double seconds = 0;
  };
  // Reaps the child, killing it first when `killed_because` is set.
  Outcome Finish(const char* killed_because);

 private:
  pid_t pid_ = -1;
  int fd_ = -1;  // the read end of the pipe the child writes to
  std::string text_;
  std::chrono::steady_clock::time_point start_;
  ChildLimits limits_;
};

// Starts children. The default forks; tests wrap it (a child that never answers, a counter).
class ChildLauncher {
 public:
  virtual ~ChildLauncher() = default;
  virtual ChildProcess Start(const ChildBody& body, const ChildLimits& limits);
};
ChildLauncher& DefaultChildLauncher();

// Waits for one child (polling; killed at its limit or on stop) and reaps it.
ChildProcess::Outcome WaitForChild(ChildProcess& child);

// A pool of up to `jobs` children over tasks 0..count-1, all from the calling thread.
// start(i) starts task i's child, or returns nullopt when the task needs none (done in this
// process, or skipped); finish(i, outcome) receives each child's outcome as it ends. When start
// or finish throws, the running children are killed before the exception leaves.
void RunChildPool(size_t count, int jobs,
                  const std::function<std::optional<ChildProcess>(size_t)>& start,
                  const std::function<void(size_t, ChildProcess::Outcome)>& finish);

}  // namespace qrepair
