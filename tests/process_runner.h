// Runs the qrepair binary (or any program) as a child process for end-to-end tests: output to
// files, a deadline enforced with SIGKILL, and signals for fault-injection tests.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace qrepair::testing {

struct ProcessResult {
  bool exited = false;  // normal exit (then exit_code is valid)
  int exit_code = -1;
  int signal = 0;          // the signal that ended it, when !exited
  bool timed_out = false;  // killed by the runner at the deadline
  double seconds = 0;
  std::string out, err;
  std::string Describe() const;  // "exit 3", "signal 11", "timed out after 20 s"
};

class Process {
 public:
  // Starts argv[0] (a path, not searched in PATH) in `cwd` (empty: the current folder), with
  // stdin from /dev/null and stdout/stderr captured to temporary files.
  explicit Process(const std::vector<std::string>& argv, const std::string& cwd = "");
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal_number) const;
  // Waits at most `timeout_seconds`, then SIGKILLs the child and reports timed_out.
  ProcessResult Wait(double timeout_seconds);

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  double start_ = 0;
  bool waited_ = false;
};

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& cwd,
                         double timeout_seconds);

// A fresh folder under $TMPDIR (or /tmp), removed with its content by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path);

}  // namespace qrepair::testing
