// Threads for the forward passes: a static round-robin of chunks (chunk c goes to thread
// c % threads), so which thread computes a sample never matters and never varies.
#include "quant/kernels/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "qrepair/quant/compute_threads.h"

namespace qrepair {

namespace {
std::atomic<int> requested_threads{0};
thread_local bool inside_parallel = false;
}  // namespace

void SetComputeThreads(int threads) { requested_threads = threads < 0 ? 1 : threads; }

int ComputeThreads() {
  const int requested = requested_threads.load();
  if (requested > 0) return requested;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

namespace kernels {

void ParallelChunks(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(chunk, 1);
  const int64_t chunks = (n + chunk - 1) / chunk;
  const int threads = static_cast<int>(std::min<int64_t>(ComputeThreads(), chunks));
  if (threads <= 1 || inside_parallel) {
    for (int64_t c = 0; c < chunks; ++c) fn(c * chunk, std::min(n, (c + 1) * chunk));
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&](int t) {
    inside_parallel = true;
    try {
      for (int64_t c = t; c < chunks; c += threads) fn(c * chunk, std::min(n, (c + 1) * chunk));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
    inside_parallel = false;
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (std::thread& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

int64_t SampleChunk(int64_t values_per_sample, int64_t samples) {
  const int64_t by_memory =
      std::clamp<int64_t>((int64_t{1} << 20) / std::max<int64_t>(values_per_sample, 1), 16, 1024);
  const int64_t threads = ComputeThreads();
  const int64_t by_threads = std::max<int64_t>((samples + threads - 1) / threads, 16);
  return std::min(by_memory, by_threads);
}

}  // namespace kernels
}  // namespace qrepair
