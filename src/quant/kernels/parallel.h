// Splits a batch of samples over the compute threads (compute_threads.h). No thread outlives a
// call, so a later fork() (the solver's child processes) sees a single-threaded process.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

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

// One layer of a batched pass: `serial(input chunk)` on sample chunks over the compute threads
// (samples are independent, so the result does not depend on the split). `rows_out` is the
// layer's output size per sample.
template <typename Batch, typename Serial>
Batch ChunkedLayer(int64_t rows_out, const Batch& input, const Serial& serial) {
  const int64_t n = input.cols();
  const int64_t chunk = SampleChunk(rows_out, n);
  if (chunk >= n) return serial(input);
  Batch y(rows_out, n);
  ParallelChunks(n, chunk, [&](int64_t begin, int64_t end) {
    y.middleCols(begin, end - begin) = serial(input.middleCols(begin, end - begin));
  });
  return y;
}

// A chain of layers over a batch, shared by the float and the integer pass: with `trace`, layer
// by layer (each chunked, every output kept); without it, the whole chain chunk by chunk, which
// keeps only one chunk's activations per thread. `serial(layer, batch)` runs one layer on one
// chunk.
template <typename Batch, typename Layer, typename Serial>
Batch ForwardChain(const std::vector<Layer>& layers, const Batch& input, std::vector<Batch>* trace,
                   const Serial& serial) {
  if (!trace && !layers.empty()) {
    int64_t widest = input.rows();
    for (const Layer& l : layers) widest = std::max(widest, l.output_shape.Size());
    const int64_t n = input.cols();
    Batch out(layers.back().output_shape.Size(), n);
    ParallelChunks(n, SampleChunk(widest, n), [&](int64_t begin, int64_t end) {
      Batch x = input.middleCols(begin, end - begin);
      for (const Layer& layer : layers) x = serial(layer, x);
      out.middleCols(begin, end - begin) = x;
    });
    return out;
  }
  if (trace) trace->clear();
  Batch x = input;
  for (const Layer& layer : layers) {
    x = ChunkedLayer(layer.output_shape.Size(), x,
                     [&](const Batch& chunk) { return serial(layer, chunk); });
    if (trace) trace->push_back(x);
  }
  return x;
}

}  // namespace qrepair::kernels
