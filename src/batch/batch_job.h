// One job of a batch, run in its own process, and its record DIR/<name>/job.json. A process per
// job keeps a crash, a stuck solver or a memory blow-up inside that job: the batch records it
// and goes on, and can always stop a job (SIGTERM, then SIGKILL) where a thread could not be.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "qrepair/batch/batch_manifest.h"
#include "qrepair/batch/batch_summary.h"

namespace qrepair {

BatchEntry FailedEntry(const std::string& name, ExitCode code, const std::string& message);

// job.json: status, message, resume key, sha256 of the outputs; written atomically.
void WriteJobRecord(const std::string& job_dir, const std::string& key, const BatchEntry& entry);
// The entry of DIR/<name>/job.json when its key is `key` (and, with `finished_only`, the job
// finished and its outputs still have the recorded sha256).
std::optional<BatchEntry> ReadJobRecord(const std::string& job_dir, const std::string& key,
                                        bool finished_only);

// Removes the temporary files (".NAME.tmp.XXXXXX") a killed writer left in `dir`.
void RemoveStaleTemporaries(const std::string& dir);

// Forks a process that runs the job, writes its outputs and its job.json, and exits. In it,
// SIGINT/SIGTERM stop the repair at its next safe point (status "interrupted") and SIGUSR1 does
// the same for a job past its time limit (status "limit_reached"); the best verified result so
// far is written either way. Call from a single-threaded process.
pid_t StartJobProcess(const BatchJob& job, const std::string& job_dir, const std::string& key);

// After the job's process ended (`wait_status` from waitpid): its entry from job.json, or, when
// the process left none, a failed entry saying why (written to job.json). `killed_reason` is
// set when the batch killed the process.
BatchEntry FinishJobProcess(const BatchJob& job, const std::string& job_dir, const std::string& key,
                            int wait_status, const std::string& killed_reason, double seconds);

}  // namespace qrepair
