// Speed of the neuron ranking against one reference integer forward pass over the same samples
// (issue 3: ranking must take well under three integer passes). A measurement, not a test.
//
//   ranking_bench [--data-dir ../shared/data] [--network networks/mnistfc/mnist-net_256x6.onnx]
//                 [--samples 5000] [--weight-bits 4] [--repeat 5]
//
// Images 0..samples-1 (scale 1/255) calibrate the 8-bit activations and are ranked; weights are
// per-tensor. Everything runs on one thread; each step alternates with the integer pass for
// --repeat rounds, so that load from other processes hits both alike.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "qrepair/error.h"
#include "qrepair/io/dataset.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"
#include "qrepair/rank/ranking.h"
#include "qrepair/rank/sample_split.h"

namespace {

double Seconds(const std::function<void()>& run) {
  auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Timing {
  double best = 0;          // fastest run of `run`
  double best_ratio = 0;    // fastest run of `run` / fastest run of `baseline`
  double median_ratio = 0;  // median over rounds of run / baseline measured in the same round
};

// Runs `baseline` and `run` alternately, so that load from other processes hits both alike.
Timing Compare(int rounds, const std::function<void()>& baseline,
               const std::function<void()>& run) {
  std::vector<double> base, time, ratio;
  for (int r = 0; r < rounds; ++r) {
    base.push_back(Seconds(baseline));
    time.push_back(Seconds(run));
    ratio.push_back(time.back() / base.back());
  }
  std::sort(ratio.begin(), ratio.end());
  Timing t;
  t.best = *std::min_element(time.begin(), time.end());
  t.best_ratio = t.best / *std::min_element(base.begin(), base.end());
  t.median_ratio = ratio[ratio.size() / 2];
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ranking time versus one integer forward pass"};
  std::string dir = "../shared/data";
  std::string network = "networks/mnistfc/mnist-net_256x6.onnx";
  int64_t samples = 5000;
  int weight_bits = 4;
  int repeat = 5;
  app.add_option("--data-dir", dir, "Directory with mnist/ and networks/");
  app.add_option("--network", network, "Network under the data directory");
  app.add_option("--samples", samples, "Images 0..N-1");
  app.add_option("--weight-bits", weight_bits, "Per-tensor weight bits");
  app.add_option("--repeat", repeat, "Rounds per step");
  CLI11_PARSE(app, argc, argv);
  try {
    qrepair::DataOptions options;
    options.data_path = dir + "/mnist/t10k-images-idx3-ubyte.gz";
    options.labels_path = dir + "/mnist/t10k-labels-idx1-ubyte.gz";
    options.input_scale = 0.00392156862745098;
    options.range = qrepair::RowRange{0, samples};
    qrepair::Dataset data = qrepair::LoadDataset(options);
    qrepair::Network net = qrepair::LoadFloatNetwork(dir + "/" + network);
    qrepair::QuantConfig config;
    config.defaults.weight_bits = weight_bits;
    config.activation_bits = 8;
    qrepair::FloatBatch x = qrepair::InputBatch(data);
    qrepair::QuantizedNetwork q = qrepair::QuantizeNetwork(net, config, x, network);
    qrepair::SampleSplit split = qrepair::SplitSamples(net, q, data, qrepair::RepairTarget::kFloat);

    auto integer_pass = [&] { qrepair::ForwardInteger(q, qrepair::QuantizeInput(q, x)); };
    std::printf(
        "%s, %d-bit per-tensor weights, 8-bit activations, %lld samples "
        "(%zu failing, %zu passing against float); %d rounds\n\n",
        network.c_str(), weight_bits, static_cast<long long>(data.rows), split.failing.size(),
        split.passing.size(), repeat);
    std::printf(
        "| step | fastest s | fastest / fastest integer pass | median of per-round ratios |\n"
        "|---|---:|---:|---:|\n");
    auto row = [&](const std::string& what, const std::function<void()>& run) {
      Timing t = Compare(repeat, integer_pass, run);
      std::printf("| %s | %.3f | %.2f | %.2f |\n", what.c_str(), t.best, t.best_ratio,
                  t.median_ratio);
      std::fflush(stdout);
    };
    row("integer forward pass (QuantizeInput + ForwardInteger)", integer_pass);
    row("float forward pass", [&] { qrepair::ForwardFloat(net, x); });
    row("SplitSamples (input to ranking, not part of it)",
        [&] { qrepair::SplitSamples(net, q, data, qrepair::RepairTarget::kFloat); });
    for (const std::string& name : qrepair::RankMethodNames()) {
      qrepair::RankOptions rank;
      rank.method = qrepair::ParseRankMethod(name);
      row("RankNeurons --method " + name, [&] { qrepair::RankNeurons(net, q, data, split, rank); });
    }
  } catch (const qrepair::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
