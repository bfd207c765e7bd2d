// `qrepair eval`: float vs quantized accuracy and agreement on a data set.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "qrepair/io/atomic_file.h"
#include "qrepair/io/model_source.h"
#include "qrepair/quant/evaluate.h"

namespace qrepair::cli {

namespace {

struct EvalFlags {
  std::string model;
  std::string config;
  DataFlags data;
  std::string calibration_range;
  bool json = false;
  std::string predictions;
};

void PrintTable(const EvalSummary& s) {
  std::printf("samples: %lld\n", static_cast<long long>(s.samples));
  if (s.has_labels) {
    std::printf("float accuracy:      %7.2f %%\n", 100 * s.float_accuracy);
    std::printf("quantized accuracy:  %7.2f %%\n", 100 * s.quant_accuracy);
  }
  std::printf("top-1 agreement:     %7.2f %%\n", 100 * s.agreement);
  if (!s.has_labels) return;
  std::printf("\n| class | samples | float %% | quantized %% |\n|---:|---:|---:|---:|\n");
  for (const ClassStats& c : s.per_class) {
    double n = c.samples ? static_cast<double>(c.samples) : 1.0;
    std::printf("| %d | %lld | %.2f | %.2f |\n", c.label, static_cast<long long>(c.samples),
                100 * c.float_correct / n, 100 * c.quant_correct / n);
  }
}

void RunEval(const EvalFlags& f) {
  Dataset data = LoadDataset(ToDataOptions(f.data, f.data.range));
  Dataset calibration = data;
  if (!f.calibration_range.empty()) {
    calibration = LoadDataset(ToDataOptions(f.data, f.calibration_range));
  }
  ModelFile model = OpenModel(f.model, f.config, calibration);
  Predictions p = Predict(model.float_network, model.quantized, data);
  EvalSummary s = Summarize(p, model.float_network.NumClasses());
  if (!f.predictions.empty()) {
    std::string csv = "index,label,float_top1,quantized_top1\n";
    for (size_t i = 0; i < p.float_top1.size(); ++i) {
      csv += std::to_string(data.first_row + static_cast<int64_t>(i)) + "," +
             (p.labels.empty() ? "" : std::to_string(p.labels[i])) + "," +
             std::to_string(p.float_top1[i]) + "," + std::to_string(p.quant_top1[i]) + "\n";
    }
    WriteFileAtomic(f.predictions, csv);
  }
  if (f.json) {
    nlohmann::json j = s;
    std::cout << j.dump(2) << "\n";
  } else {
    PrintTable(s);
  }
}

}  // namespace

void SetUpEval(CLI::App& app) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand("eval", "Float vs quantized accuracy and top-1 agreement");
  cmd->add_option("model", flags->model, "Float model (.onnx, .nnet, .json) or quantized .json")
      ->required();
  cmd->add_option("--config", flags->config, "Quantization config JSON (needed for a float model)");
  AddDataFlags(cmd, flags->data, true);
  cmd->add_option("--calibration-range", flags->calibration_range,
                  "Rows A:B used to calibrate activation scales (default: the evaluated rows)");
  cmd->add_flag("--json", flags->json, "One JSON object on stdout");
  cmd->add_option("--predictions", flags->predictions,
                  "Write index,label,float_top1,quantized_top1 CSV");
  cmd->callback([flags] { RunEval(*flags); });
}

}  // namespace qrepair::cli
