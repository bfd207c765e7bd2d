// Splits a batch of samples over the compute threads (compute_threads.h). No thread outlives a
// call, so a later fork() (the solver's child processes) sees a single-threaded process.
#pragma once

#include <cstdint>
#include <functional>

namespace qrepair::kernels {

// Calls fn(begin, end) on consecutive ranges covering [0, n), each at most `chunk` long (the
// last may be shorter), from up to ComputeThreads() threads. Runs inline for one thread, one
// chunk, or when already inside a ParallelChunks call. The first exception thrown by fn is
// rethrown after every thread has stopped.
void ParallelChunks(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t)>& fn);

// Samples per chunk for a batch of `samples` whose widest layer holds `values_per_sample`
// values per sample: a share per thread, but no more than about 2^20 values (16 to 1024
// samples), which bounds each thread's intermediate buffers.
int64_t SampleChunk(int64_t values_per_sample, int64_t samples);

}  // namespace qrepair::kernels
