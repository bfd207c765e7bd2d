// A batch job in its own process, and the job.json record that --resume trusts only when its key
// and the outputs' sha256 still match.
#include "batch/batch_job.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "qrepair/io/atomic_file.h"
#include "qrepair/repair/repair_job.h"
#include "qrepair/version.h"

namespace qrepair {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* const kOutputs[] = {"repaired.json", "report.json", "report.md"};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Set by signals in the job's process only.
std::atomic<bool> g_stop{false};
std::atomic<bool> g_overdue{false};
extern "C" void OnJobSignal(int signal) {
  if (signal == SIGUSR1) g_overdue.store(true);
  g_stop.store(true);
}

BatchEntry RunJob(const BatchJob& job, const std::string& job_dir) {
  auto begin = std::chrono::steady_clock::now();
  BatchEntry e;
  try {
    RepairJobOptions o = ToRepairJobOptions(job);
    o.output = job_dir + "/repaired.json";
    o.report_json = job_dir + "/report.json";
    o.report_md = job_dir + "/report.md";
    o.stop = &g_stop;
    RepairJobResult r = RunRepairJob(o);
    json report = ReportToJson(r.report);
    e.name = job.name;
    e.status = r.report.status;
    e.exit_code = static_cast<int>(r.code);
    e.before = report["before"];
    e.after = report["after"];
    e.neurons_repaired = report["neurons_repaired"].get<int64_t>();
    e.weights_changed = report["weights_changed"].get<int64_t>();
    e.message = std::to_string(e.neurons_repaired) + " neurons, " +
                std::to_string(e.weights_changed) + " weights changed; " +
                r.report.verification_note;
    if (e.status == "interrupted" && g_overdue.load()) {
      e.status = "limit_reached";
      e.exit_code = static_cast<int>(ExitCode::kLimitReached);
      e.message = "stopped by the batch after running past its time_limit; " + e.message;
    }
  } catch (const Error& err) {
    e = FailedEntry(job.name, err.code(), err.what());
  } catch (const std::bad_alloc&) {
    e = FailedEntry(job.name, ExitCode::kLimitReached, "out of memory");
  } catch (const std::exception& err) {
    e = FailedEntry(job.name, ExitCode::kInternal, std::string("internal error: ") + err.what());
  }
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  return e;
}

}  // namespace

BatchEntry FailedEntry(const std::string& name, ExitCode code, const std::string& message) {
  BatchEntry e;
  e.name = name;
  e.status = code == ExitCode::kBadInput || code == ExitCode::kUsage ? "bad_input" : "failed";
  e.exit_code = static_cast<int>(code);
  e.message = message;
  e.before = e.after = nullptr;
  return e;
}

void WriteJobRecord(const std::string& job_dir, const std::string& key, const BatchEntry& entry) {
  json outputs = json::object();
  if (JobFinished(entry.status)) {
    for (const char* f : kOutputs) {
      std::string file = job_dir + "/" + f;
      if (fs::exists(file)) outputs[f] = Sha256File(file);
    }
  }
  json record = {{"tool", "qrepair"},
                 {"version", kVersion},
                 {"name", entry.name},
                 {"key", key},
                 {"finished", JobFinished(entry.status)},
                 {"outputs", outputs},
                 {"entry", EntryToJson(entry)}};
  WriteFileAtomic(job_dir + "/job.json", record.dump(2) + "\n");
}

std::optional<BatchEntry> ReadJobRecord(const std::string& job_dir, const std::string& key,
                                        bool finished_only) {
  std::string path = job_dir + "/job.json";
  std::string text = Slurp(path);
  if (text.empty()) return std::nullopt;
  try {
    json j = json::parse(text);
    if (j.at("key") != key) return std::nullopt;
    BatchEntry e = EntryFromJson(j.at("entry"), path, "$.entry");
    if (!finished_only) return e;
    if (!j.at("finished").get<bool>() || !JobFinished(e.status)) return std::nullopt;
    for (auto it = j.at("outputs").begin(); it != j.at("outputs").end(); ++it) {
      std::string file = job_dir + "/" + it.key();
      if (!fs::exists(file) || Sha256File(file) != it.value().get<std::string>()) {
        return std::nullopt;
      }
    }
    return e;
  } catch (const std::exception& e) {
    spdlog::warn("{}: ignored ({})", path, e.what());
    return std::nullopt;
  }
}

void RemoveStaleTemporaries(const std::string& dir) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::string file = e.path().filename().string();
    if (file[0] == '.' && file.find(".tmp.") != std::string::npos && e.is_regular_file(ec)) {
      fs::remove(e.path(), ec);
    }
  }
}

pid_t StartJobProcess(const BatchJob& job, const std::string& job_dir, const std::string& key) {
  // Signals wait until the child has its handlers: a SIGTERM in between would kill it silently.
  sigset_t block, old;
  sigemptyset(&block);
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&block, s);
  sigprocmask(SIG_BLOCK, &block, &old);
  std::fflush(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) throw Error(ExitCode::kInternal, "cannot start a job process: fork failed");
    return pid;
  }
  // The job dies with the batch (kill -9 included): an orphan would go on writing into a folder a
  // re-run with --resume is already working in.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  struct sigaction sa {};
  sa.sa_handler = OnJobSignal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaction(s, &sa, nullptr);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  int code = 0;
  try {
    WriteJobRecord(job_dir, key, RunJob(job, job_dir));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qrepair: %s: %s\n", job.name.c_str(), e.what());
    code = 1;
  }
  std::fflush(nullptr);
  _exit(code);  // the parent's state (atexit handlers, static objects) is not ours to tear down
}

BatchEntry FinishJobProcess(const BatchJob& job, const std::string& job_dir, const std::string& key,
                            int wait_status, const std::string& killed_reason, double seconds) {
  bool clean_exit = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  if (clean_exit) {
    if (std::optional<BatchEntry> e = ReadJobRecord(job_dir, key, false)) return *e;
  }
  BatchEntry e;
  if (!killed_reason.empty()) {
    e = FailedEntry(job.name, ExitCode::kLimitReached, killed_reason);
  } else if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    e = FailedEntry(job.name, ExitCode::kInternal,
                    "the job's process died of signal " + std::to_string(sig) + " (" +
                        strsignal(sig) + "); no result");
  } else {
    e = FailedEntry(job.name, ExitCode::kInternal,
                    "the job's process ended without a record (exit status " +
                        std::to_string(WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1) +
                        ")");
  }
  e.seconds = seconds;
  WriteJobRecord(job_dir, key, e);
  return e;
}

}  // namespace qrepair
