// Solver processes (child_process.h): fork, address-space limit, result pipe, poll, kill.
#include "qrepair/solver/child_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <vector>

#include "qrepair/error.h"

namespace qrepair {

ChildProcess::ChildProcess(pid_t pid, int fd, const ChildLimits& limits)
    : pid_(pid), fd_(fd), start_(std::chrono::steady_clock::now()), limits_(limits) {}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : pid_(o.pid_), fd_(o.fd_), text_(std::move(o.text_)), start_(o.start_), limits_(o.limits_) {
  o.pid_ = -1;
  o.fd_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    if (pid_ > 0) Finish("abandoned");
    pid_ = o.pid_;
    fd_ = o.fd_;
    text_ = std::move(o.text_);
    start_ = o.start_;
    limits_ = o.limits_;
    o.pid_ = -1;
    o.fd_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Finish("abandoned");
}

double ChildProcess::Seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

bool ChildProcess::Read() {
  char buf[65536];
  ssize_t n = read(fd_, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return false;
  if (n <= 0) return true;
  text_.append(buf, static_cast<size_t>(n));
  return false;
}

const char* ChildProcess::KillReason() const {
  if (limits_.stop != nullptr && limits_.stop->load()) return "stopped by a signal";
  if (Seconds() >= limits_.seconds) return "killed at the time limit";
  return nullptr;
}

ChildProcess::Outcome ChildProcess::Finish(const char* killed_because) {
  Outcome out;
  if (pid_ <= 0) {
    out.killed = true;
    out.detail = "no process";
    return out;
  }
  if (killed_because != nullptr) kill(pid_, SIGKILL);
  close(fd_);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  fd_ = -1;
  out.seconds = Seconds();
  out.text = std::move(text_);
  if (killed_because != nullptr) {
    out.killed = true;
    out.detail = killed_because;
  } else if (WIFSIGNALED(status)) {
    out.detail =
        "solver process died (signal " + std::to_string(WTERMSIG(status)) + ", memory limit?)";
  } else {
    out.detail = "solver process gave no result";
  }
  return out;
}

ChildProcess ChildLauncher::Start(const ChildBody& body, const ChildLimits& limits) {
  int fds[2];
  if (pipe(fds) != 0) throw InternalError("pipe failed");
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    throw InternalError("fork failed");
  }
  if (pid == 0) {
    close(fds[0]);
    struct rlimit rl {};
    long pages = 0;
    if (FILE* f = fopen("/proc/self/statm", "r")) {
      if (fscanf(f, "%ld", &pages) != 1) pages = 0;
      fclose(f);
    }
    rl.rlim_cur = rl.rlim_max =
        static_cast<rlim_t>(pages) * sysconf(_SC_PAGESIZE) + (limits.memory_limit_mb << 20);
    setrlimit(RLIMIT_AS, &rl);
    std::string text;
    try {
      text = body();
    } catch (...) {  // the body reports its own errors in its text; nothing may unwind here
      _exit(1);
    }
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = write(fds[1], text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  return ChildProcess(pid, fds[0], limits);
}

ChildLauncher& DefaultChildLauncher() {
  static ChildLauncher launcher;
  return launcher;
}

ChildProcess::Outcome WaitForChild(ChildProcess& c) {
  const char* kill_reason = nullptr;
  while ((kill_reason = c.KillReason()) == nullptr) {
    struct pollfd pfd {
      c.fd(), POLLIN, 0
    };
    int ready = poll(&pfd, 1, static_cast<int>(std::min(c.SecondsLeft() * 1000, 200.0)) + 1);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0 && c.Read()) break;
  }
  return c.Finish(kill_reason);
}

void RunChildPool(size_t count, int jobs,
                  const std::function<std::optional<ChildProcess>(size_t)>& start,
                  const std::function<void(size_t, ChildProcess::Outcome)>& finish) {
  struct Running {
    size_t index;
    ChildProcess child;
  };
  std::vector<Running> running;  // the destructors kill what is left when an exception leaves
  size_t next = 0;
  while (next < count || !running.empty()) {
    while (running.size() < static_cast<size_t>(std::max(1, jobs)) && next < count) {
      const size_t i = next++;
      std::optional<ChildProcess> child = start(i);
      if (child) running.push_back({i, std::move(*child)});
    }
    if (running.empty()) continue;
    std::vector<struct pollfd> fds;
    double left = 0.2;
    for (const Running& r : running) {
      fds.push_back({r.child.fd(), POLLIN, 0});
      left = std::min(left, r.child.SecondsLeft());
    }
    int ready = poll(fds.data(), fds.size(), static_cast<int>(std::max(0.0, left) * 1000) + 1);
    if (ready < 0 && errno != EINTR) throw InternalError("poll on the solver processes failed");
    for (size_t k = running.size(); k-- > 0;) {
      Running& r = running[k];
      const bool closed = ready > 0 && fds[k].revents != 0 && r.child.Read();
      const char* kill_reason = closed ? nullptr : r.child.KillReason();
      if (!closed && kill_reason == nullptr) continue;
      ChildProcess::Outcome out = r.child.Finish(kill_reason);
      const size_t index = r.index;
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
      finish(index, std::move(out));
    }
  }
}

}  // namespace qrepair
