// Forward-pass speed benchmark: the float pass and the reference integer pass over a data set,
// best of N runs, and the process's peak memory, with a hash of each pass's logits (so a kernel
// change can be checked to leave every bit as it was). bench/forward_vs_ort.sh runs it side by
// side with ONNX Runtime (bench/ort_time.js) on the same model and inputs.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "qrepair/io/dataset.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/quant/compute_threads.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quant_config.h"
#include "qrepair/quant/quantize.h"
#include "quant/kernels/cpu_level.h"

int main(int argc, char** argv) {
  CLI::App app{"forward pass timing"};
  std::string model, data, config;
  double scale = 0.00392156862745098;
  int repeats = 5;
  int threads = 1;
  std::string level;
  app.add_option("model", model)->required();
  app.add_option("--data", data)->required();
  app.add_option("--config", config)->required();
  app.add_option("--input-scale", scale);
  app.add_option("--repeats", repeats);
  app.add_option("--threads", threads, "Compute threads (0: every core)");
  app.add_option("--level", level, "Force a kernel level (scalar, avx2); default: detected");
  CLI11_PARSE(app, argc, argv);
  using namespace qrepair;
  SetComputeThreads(threads);
  if (!level.empty()) {
    bool found = false;
    for (kernels::CpuLevel l : kernels::SupportedCpuLevels()) {
      if (level == kernels::CpuLevelName(l)) {
        kernels::ForceCpuLevel(l);
        found = true;
      }
    }
    if (!found) {
      std::fprintf(stderr, "forward_bench: level '%s' is not supported here\n", level.c_str());
      return 2;
    }
  }
  Network net = LoadFloatNetwork(model);
  DataOptions o;
  o.data_path = data;
  o.input_scale = scale;
  Dataset d = LoadDataset(o);
  FloatBatch x = InputBatch(d);
  QuantizedNetwork q = QuantizeNetwork(net, LoadQuantConfig(config), x, model);
  auto time = [&](auto fn) {
    double best = 1e30;
    for (int r = 0; r < repeats; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      fn();
      best = std::min(best,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  // FNV-1a over the logits' bytes: equal hashes, equal logits.
  auto hash = [](const void* data, size_t bytes) {
    uint64_t h = 1469598103934665603ull;
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
  };
  FloatBatch float_logits;
  CodeBatch int_logits;
  double t_float = time([&] { float_logits = ForwardFloat(net, x); });
  double t_int = time([&] { int_logits = ForwardInteger(q, QuantizeInput(q, x)); });
  int64_t agree = 0;
  std::vector<int> top_f = ArgmaxColumns(float_logits), top_q = ArgmaxColumns(int_logits);
  for (size_t s = 0; s < top_f.size(); ++s) agree += top_f[s] == top_q[s];
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "kernel level %s, %d thread(s)\nsamples %lld\nfloat pass   %.4f s\ninteger pass %.4f s "
      "(%.2fx float)\npeak memory  %.1f "
      "MB\nfloat logits hash   %016llx\ninteger logits hash %016llx\ntop-1 agreement %lld\n",
      kernels::CpuLevelName(kernels::ActiveCpuLevel()), ComputeThreads(),
      static_cast<long long>(d.rows), t_float, t_int, t_int / t_float, ru.ru_maxrss / 1024.0,
      static_cast<unsigned long long>(
          hash(float_logits.data(), sizeof(float) * static_cast<size_t>(float_logits.size()))),
      static_cast<unsigned long long>(
          hash(int_logits.data(), sizeof(int32_t) * static_cast<size_t>(int_logits.size()))),
      static_cast<long long>(agree));
  return 0;
}
