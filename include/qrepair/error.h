// The project's one error type and the stable exit codes that CI scripts read.
#pragma once

#include <stdexcept>
#include <string>

namespace qrepair {

// Exit codes are part of the interface (README "Exit codes"); never renumber them.
enum class ExitCode : int {
  kSuccess = 0,
  kInternal = 1,         // a bug: broken invariant, unexpected exception
  kUsage = 2,            // bad command line
  kBadInput = 3,         // a model, config, data or manifest file is malformed
  kNoImprovement = 4,    // repair ran but found nothing that verifies better
  kLimitReached = 5,     // time or memory limit hit; best verified result (if any) written
  kThresholdFailed = 6,  // --fail-under / --fail-if-drop not met
  kBatchPartial = 7,     // batch: at least one job failed
  kIoError = 8,          // cannot write an output file
  kViolated = 9,         // verify: the property is violated (a checked counterexample)
  kInterrupted = 130,    // SIGINT/SIGTERM; best verified result (if any) written
};

// An error a person reads: `what()` already names the file and the place inside it.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Bad input: `file: place: message`. `place` may be empty.
Error BadInput(const std::string& file, const std::string& place, const std::string& message);
Error InternalError(const std::string& message);

}  // namespace qrepair
