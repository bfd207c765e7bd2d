// Benchmark of the starting-point initializers (rtn, gptq, gptq-float) on the shared MNIST
// networks: holdout accuracy and agreement with float, and seconds per initializer, to set
// beside the anchor table of issue 4. A measurement, not a test.
//
//   init_bench [--data-dir ../shared/data] [--extra] [--init rtn,gptq,gptq-float] [--case 0,2]
//              [--weight-bits N] [--swap] [--augment shift|shift8] [--verbose]
//
// Images 0..4999 calibrate (quantization and initializers), 5000..9999 are the holdout;
// 8-bit activations; weight scales max|w|/(2^(b-1)-1).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "qrepair/error.h"
#include "qrepair/io/dataset.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/quant/evaluate.h"
#include "qrepair/quant/init.h"
#include "qrepair/quant/quant_config.h"
#include "qrepair/quant/quantize.h"

namespace {

using qrepair::Granularity;

struct BenchCase {
  std::string network;  // path under the data directory
  int weight_bits;
  Granularity granularity;
};

std::string Label(const BenchCase& c) {
  std::string name = c.network.substr(c.network.rfind('/') + 1);
  name = name.substr(0, name.rfind('.'));
  return name + ", " + std::to_string(c.weight_bits) + "-bit " +
         (c.granularity == Granularity::kPerTensor ? "per-tensor" : "per-channel");
}

void Run(const BenchCase& c, const std::string& dir, const qrepair::Dataset& data,
         const std::vector<qrepair::InitMethod>& methods, bool swap,
         const qrepair::Augmentation& augment, qrepair::ScaleRule scale_rule) {
  qrepair::Network net = qrepair::LoadFloatNetwork(dir + "/" + c.network);
  qrepair::Dataset calibration_set = swap ? data.Slice(5000, 10000) : data.Slice(0, 5000);
  qrepair::Dataset holdout = swap ? data.Slice(0, 5000) : data.Slice(5000, 10000);
  qrepair::FloatBatch calibration = qrepair::InputBatch(calibration_set);
  qrepair::Augmentation a = augment;
  if (a.shifts > 0 && a.height == 0 && net.input_shape.height == 1) a.height = a.width = 28;
  const qrepair::FloatBatch calibration_init =
      qrepair::AugmentCalibration(calibration, a, net.input_shape);
  qrepair::QuantConfig config;
  config.defaults.weight_bits = c.weight_bits;
  config.defaults.granularity = c.granularity;
  config.defaults.scale_rule = scale_rule;
  config.activation_bits = 8;
  qrepair::QuantizedNetwork rtn = qrepair::QuantizeNetwork(net, config, calibration, c.network);

  std::string cells;
  double float_accuracy = 0;
  for (qrepair::InitMethod m : methods) {
    auto start = std::chrono::steady_clock::now();
    qrepair::QuantizedNetwork q = qrepair::InitializeWeights(net, rtn, calibration_init, m);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    qrepair::EvalSummary repair =
        qrepair::Summarize(qrepair::Predict(net, q, calibration_set), net.NumClasses());
    qrepair::EvalSummary s =
        qrepair::Summarize(qrepair::Predict(net, q, holdout), net.NumClasses());
    float_accuracy = s.float_accuracy;
    char cell[160];
    std::snprintf(cell, sizeof cell, " %5.2f / %5.2f (repair %5.2f / %5.2f), %.2f s |",
                  100 * s.quant_accuracy, 100 * s.agreement, 100 * repair.quant_accuracy,
                  100 * repair.agreement, seconds);
    cells += cell;
  }
  std::printf("| %s | %5.2f |%s\n", Label(c).c_str(), 100 * float_accuracy, cells.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Holdout accuracy / agreement of the rtn, gptq and gptq-float initializers"};
  std::string dir = "../shared/data";
  bool extra = false;
  app.add_option("--data-dir", dir, "Directory with mnist/ and networks/");
  bool verbose = false;
  app.add_flag("--extra", extra, "Also mnist-net_256x2 and Convnet_maxpool at 3-bit");
  app.add_flag("-v,--verbose", verbose, "One line per re-rounded layer on stderr");
  std::vector<std::string> method_names = {"rtn", "gptq", "gptq-float"};
  app.add_option("--init", method_names, "Initializers to run, in this order")->delimiter(',');
  std::vector<int> only;
  app.add_option("--case", only, "Run only these cases (0-based, in the table's order)")
      ->delimiter(',');
  int bits_override = 0;
  app.add_option("--weight-bits", bits_override,
                 "Weight bits for every case (default: the table's)")
      ->check(CLI::Range(2, 8));
  std::string scale_text = "max-abs";
  app.add_option("--scale", scale_text,
                 "Weight scale rule as the config's \"scale\" (max-abs, mse)");
  bool swap = false;
  std::string augment_text = "none";
  app.add_option("--augment", augment_text,
                 "Calibration augmentation as repair --augment (shift, shift8; flat 784-input "
                 "networks are taken as 28x28)");
  app.add_flag("--swap", swap,
               "Calibrate on 5000..9999 and hold out 0..4999: a second split, to tell a real "
               "gain from the noise of 5000 holdout images");
  CLI11_PARSE(app, argc, argv);
  const qrepair::Augmentation augment = qrepair::ParseAugmentation(augment_text);
  const qrepair::ScaleRule scale_rule =
      qrepair::ParseScaleRule(scale_text, "command line", "--scale");
  if (verbose) spdlog::set_level(spdlog::level::debug);

  std::vector<BenchCase> cases = {
      {"networks/mnistfc/mnist-net_256x4.onnx", 4, Granularity::kPerTensor},
      {"networks/mnistfc/mnist-net_256x6.onnx", 4, Granularity::kPerTensor},
      {"networks/mnistfc/mnist-net_256x4.onnx", 3, Granularity::kPerTensor},
  };
  if (extra) {
    for (const char* n :
         {"networks/mnistfc/mnist-net_256x2.onnx", "networks/cnn/Convnet_maxpool.onnx"}) {
      cases.push_back({n, 3, Granularity::kPerTensor});
      cases.push_back({n, 3, Granularity::kPerChannel});
    }
  }
  try {
    qrepair::DataOptions options;
    options.data_path = dir + "/mnist/t10k-images-idx3-ubyte.gz";
    options.labels_path = dir + "/mnist/t10k-labels-idx1-ubyte.gz";
    options.input_scale = 0.00392156862745098;
    qrepair::Dataset data = qrepair::LoadDataset(options);
    std::vector<qrepair::InitMethod> methods;
    std::string header = "| network, weights | float |";
    std::string rule = "|---|---|";
    for (const std::string& name : method_names) {
      methods.push_back(qrepair::ParseInitMethod(name));
      header += " " + name + " holdout acc / agr (repair set), s |";
      rule += "---|";
    }
    std::printf("%s\n%s\n", header.c_str(), rule.c_str());
    for (size_t i = 0; i < cases.size(); ++i) {
      if (bits_override != 0) cases[i].weight_bits = bits_override;
      if (only.empty() || std::find(only.begin(), only.end(), static_cast<int>(i)) != only.end()) {
        Run(cases[i], dir, data, methods, swap, augment, scale_rule);
      }
    }
  } catch (const qrepair::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
