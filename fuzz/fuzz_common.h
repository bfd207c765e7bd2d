// Shared harness of the libFuzzer targets: each writes the input bytes to a file (in a folder of
// its own process, on tmpfs when there is one) and runs one loader on it. Error(kBadInput) is the
// expected refusal; any other exception or error code, a crash, a sanitizer report, a hang or an
// allocation beyond libFuzzer's -rss_limit_mb is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "qrepair/error.h"

namespace qrepair::fuzz {

// This process's folder for input files; removed at exit (the string is never destroyed, so the
// exit handler can still read it).
inline const std::string& InputDir() {
  static const std::string* dir = [] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    auto* d = new std::string(base + "/qrepair-fuzz-" + std::to_string(getpid()));
    if (std::system(("mkdir -p " + *d).c_str()) != 0) std::abort();
    std::atexit([] {
      if (std::system(("rm -rf " + InputDir()).c_str()) != 0) return;
    });
    return d;
  }();
  return *dir;
}

// The path of this process's input file, ending in `suffix` (the loaders look at extensions).
inline std::string InputPath(const std::string& suffix) { return InputDir() + "/input" + suffix; }

inline void WriteInput(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Aborts (a finding) unless `e` is a bad-input refusal; `what` names the step in the report.
inline void AbortUnlessBadInput(const Error& e, const char* what) {
  if (e.code() == ExitCode::kBadInput) return;
  std::fprintf(stderr, "%s: unexpected error code %d: %s\n", what, static_cast<int>(e.code()),
               e.what());
  std::abort();
}

// Runs `load(path)` on the input; only a bad-input refusal may leave it.
template <typename Load>
int RunLoader(const uint8_t* data, size_t size, const std::string& suffix, Load load) {
  const std::string path = InputPath(suffix);
  WriteInput(path, data, size);
  try {
    load(path);
  } catch (const Error& e) {
    AbortUnlessBadInput(e, "load");
    if (std::string(e.what()).find(path) == std::string::npos) {
      std::fprintf(stderr, "message does not name the file: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}

}  // namespace qrepair::fuzz
