// The batch runner: resume keys, then a loop that keeps --jobs job processes running, forwards
// SIGINT/SIGTERM to them, stops overdue ones, and records every outcome.
#include "qrepair/batch/batch.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "batch/batch_job.h"
#include "qrepair/io/atomic_file.h"

namespace qrepair {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string KeyWithCache(const BatchJob& job, std::map<std::string, std::string>& hashes) {
  json inputs = {{"model", nullptr}, {"config", nullptr}, {"data", nullptr}, {"labels", nullptr}};
  for (const auto& [role, path] : JobInputFiles(job)) {
    auto it = hashes.find(path);
    if (it == hashes.end()) {
      std::error_code ec;
      if (!fs::is_regular_file(path, ec)) {
        throw BadInput(path, "", "the " + role + " file does not exist or is not a file");
      }
      it = hashes.emplace(path, Sha256File(path)).first;
    }
    inputs[role] = it->second;
  }
  return Sha256(json({{"inputs", inputs}, {"options", JobKeyOptions(job)}}).dump());
}

std::string OneLine(const BatchEntry& e) {
  char buf[200] = "";
  auto holdout = [](const json& f) -> const json* {
    return f.is_object() && f["holdout"].is_object() ? &f["holdout"] : nullptr;
  };
  const json *before = holdout(e.before), *after = holdout(e.after);
  // A model without a float network reports no agreement (null).
  if (after && before && (*before)["agreement"].is_number() && (*after)["agreement"].is_number()) {
    std::snprintf(buf, sizeof buf, ", holdout agreement %.2f -> %.2f %%",
                  100 * (*before)["agreement"].get<double>(),
                  100 * (*after)["agreement"].get<double>());
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, ", %.1f s", e.seconds);
  return e.status + buf + secs + (JobFinished(e.status) ? "" : ": " + e.message);
}

// A job process the loop is watching.
struct Running {
  size_t index = 0;  // into the shard's jobs
  pid_t pid = 0;
  Clock::time_point start;
  Clock::time_point soft_deadline;  // SIGUSR1: stop and keep the best result
  Clock::time_point hard_deadline;  // SIGKILL
  bool told_to_stop = false;
  std::string killed_reason;
};

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

std::string JobKey(const BatchJob& job) {
  std::map<std::string, std::string> hashes;
  return KeyWithCache(job, hashes);
}

BatchResult RunBatch(const BatchManifest& manifest, const BatchOptions& options) {
  BatchResult result;
  BatchMeta& meta = result.meta;
  meta.manifest = manifest.source;
  meta.manifest_sha256 = manifest.sha256;
  meta.shard = options.shard;
  for (const BatchJob& j : manifest.jobs) meta.all_jobs.push_back(j.name);

  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (!fs::is_directory(options.out_dir)) {
    throw Error(ExitCode::kIoError,
                options.out_dir + ": cannot create the output folder: " + ec.message());
  }
  RemoveStaleTemporaries(options.out_dir);

  // Keys and resume decisions first: cheap, and a missing input fails its job here.
  std::vector<const BatchJob*> jobs;
  for (size_t i = 0; i < manifest.jobs.size(); ++i) {
    if (InShard(i, options.shard)) jobs.push_back(&manifest.jobs[i]);
  }
  std::vector<BatchEntry> entries(jobs.size());
  std::vector<std::string> keys(jobs.size());
  std::vector<size_t> todo;
  std::map<std::string, std::string> hashes;
  auto job_dir = [&](size_t k) { return options.out_dir + "/" + jobs[k]->name; };
  for (size_t k = 0; k < jobs.size(); ++k) {
    try {
      keys[k] = KeyWithCache(*jobs[k], hashes);
    } catch (const Error& err) {
      entries[k] = FailedEntry(jobs[k]->name, err.code(), err.what());
      fs::create_directories(job_dir(k), ec);
      WriteJobRecord(job_dir(k), "", entries[k]);
      spdlog::warn("{}: {}", jobs[k]->name, OneLine(entries[k]));
      continue;
    }
    std::optional<BatchEntry> earlier =
        options.resume ? ReadJobRecord(job_dir(k), keys[k], true) : std::nullopt;
    if (earlier) {
      entries[k] = *earlier;
      entries[k].resumed = true;
      ++meta.jobs_resumed;
      spdlog::info("{}: already done ({}), skipped", jobs[k]->name, earlier->status);
    } else {
      todo.push_back(k);
    }
  }

  int workers =
      options.jobs > 0 ? options.jobs : static_cast<int>(std::thread::hardware_concurrency());
  workers = std::max(1, std::min<int>(workers, static_cast<int>(todo.size())));
  if (!todo.empty()) {
    spdlog::info("batch: {} of {} jobs to run ({} already done), {} at once", todo.size(),
                 jobs.size(), meta.jobs_resumed, workers);
  }
  auto stopped = [&] { return options.stop && options.stop->load(); };
  std::vector<Running> running;
  size_t next = 0, done = 0;
  std::optional<Clock::time_point> stop_seen;
  const auto stop_grace = std::chrono::duration<double>(options.kill_after_seconds);
  while (true) {
    if (stopped() && !stop_seen) stop_seen = Clock::now();
    while (!stop_seen && next < todo.size() && static_cast<int>(running.size()) < workers) {
      size_t k = todo[next++];
      fs::create_directories(job_dir(k), ec);
      fs::remove(job_dir(k) + "/job.json", ec);  // no claim while the job runs
      RemoveStaleTemporaries(job_dir(k));
      double limit = jobs[k]->options["time_limit"].get<double>();
      double grace = std::max(options.grace_seconds, options.grace_fraction * limit);
      Running r;
      r.index = k;
      r.start = Clock::now();
      r.soft_deadline = r.start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(limit + grace));
      r.hard_deadline = r.soft_deadline + std::chrono::duration_cast<Clock::duration>(stop_grace);
      try {
        r.pid = StartJobProcess(*jobs[k], job_dir(k), keys[k]);
      } catch (const Error& err) {
        entries[k] = FailedEntry(jobs[k]->name, err.code(), err.what());
        WriteJobRecord(job_dir(k), keys[k], entries[k]);
        continue;
      }
      spdlog::info("{}: started", jobs[k]->name);
      running.push_back(r);
    }
    if (running.empty()) break;
    for (Running& r : running) {
      const std::string& name = jobs[r.index]->name;
      if (stop_seen && !r.told_to_stop) {
        kill(r.pid, SIGTERM);
        r.told_to_stop = true;
        r.hard_deadline = std::min(
            r.hard_deadline, *stop_seen + std::chrono::duration_cast<Clock::duration>(stop_grace));
      }
      if (!r.told_to_stop && Clock::now() > r.soft_deadline) {
        spdlog::warn("{}: past its time_limit after {:.0f} s; stopping it", name, Since(r.start));
        kill(r.pid, SIGUSR1);
        r.told_to_stop = true;
      }
      if (r.killed_reason.empty() && Clock::now() > r.hard_deadline) {
        kill(r.pid, SIGKILL);
        char why[160];
        std::snprintf(why, sizeof why,
                      "killed by the batch after %.0f s: it did not stop when asked; no result",
                      Since(r.start));
        r.killed_reason = why;
      }
    }
    for (size_t i = 0; i < running.size();) {
      Running& r = running[i];
      int status = 0;
      pid_t w = waitpid(r.pid, &status, WNOHANG);
      if (w == 0 || (w < 0 && errno == EINTR)) {
        ++i;
        continue;
      }
      if (w < 0) status = 0;  // ECHILD: reaped elsewhere (SIGCHLD ignored); job.json tells

      size_t k = r.index;
      entries[k] =
          FinishJobProcess(*jobs[k], job_dir(k), keys[k], status, r.killed_reason, Since(r.start));
      ++meta.jobs_run;
      spdlog::info("[{}/{}] {}: {}", ++done, todo.size(), jobs[k]->name, OneLine(entries[k]));
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  result.interrupted = stopped();
  for (size_t t = next; t < todo.size(); ++t) {  // never started: the batch was stopped first
    entries[todo[t]] = FailedEntry(jobs[todo[t]]->name, ExitCode::kInterrupted,
                                   "the batch was stopped before this job started");
    entries[todo[t]].status = "not_run";
  }
  result.entries = entries;
  WriteBatchSummary(options.out_dir, meta, result.entries);
  return result;
}

}  // namespace qrepair
