// Forward-pass speed benchmark: the float pass and the reference integer pass over a data set,
// best of N runs, single thread, and the process's peak memory. Compare with ONNX Runtime on the
// same model and inputs with bench/ort_time.js (bench/forward_bench.sh runs both).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "qrepair/io/dataset.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quant_config.h"
#include "qrepair/quant/quantize.h"

int main(int argc, char** argv) {
  CLI::App app{"forward pass timing"};
  std::string model, data, config;
  double scale = 0.00392156862745098;
  int repeats = 5;
  app.add_option("model", model)->required();
  app.add_option("--data", data)->required();
  app.add_option("--config", config)->required();
  app.add_option("--input-scale", scale);
  app.add_option("--repeats", repeats);
  CLI11_PARSE(app, argc, argv);
  using namespace qrepair;
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
  int64_t sink = 0;
  double t_float = time([&] { sink += ArgmaxColumns(ForwardFloat(net, x))[0]; });
  double t_int = time([&] { sink += ArgmaxColumns(ForwardInteger(q, QuantizeInput(q, x)))[0]; });
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "samples %lld\nfloat pass   %.4f s\ninteger pass %.4f s (%.2fx float)\npeak memory  %.1f "
      "MB\n(sink %lld)\n",
      static_cast<long long>(d.rows), t_float, t_int, t_int / t_float, ru.ru_maxrss / 1024.0,
      static_cast<long long>(sink));
  return 0;
}
