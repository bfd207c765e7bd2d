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
#include "qrepair/quant/forward.h"

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
  // A model with no float network behind it (a fixed-point design, an imported int8 model) has
  // its quantized figures only.
  if (s.has_labels && s.has_float)
    std::printf("float accuracy:      %7.2f %%\n", 100 * s.float_accuracy);
  if (s.has_labels) std::printf("quantized accuracy:  %7.2f %%\n", 100 * s.quant_accuracy);
  if (s.has_float) std::printf("top-1 agreement:     %7.2f %%\n", 100 * s.agreement);
  if (!s.has_float) std::printf("(no float network behind this model: quantized figures only)\n");
  if (!s.has_labels) return;
  if (s.has_float) {
    std::printf("\n| class | samples | float %% | quantized %% |\n|---:|---:|---:|---:|\n");
  } else {
    std::printf("\n| class | samples | quantized %% |\n|---:|---:|---:|\n");
  }
  for (const ClassStats& c : s.per_class) {
    double n = c.samples ? static_cast<double>(c.samples) : 1.0;
    if (s.has_float) {
      std::printf("| %d | %lld | %.2f | %.2f |\n", c.label, static_cast<long long>(c.samples),
                  100 * c.float_correct / n, 100 * c.quant_correct / n);
    } else {
      std::printf("| %d | %lld | %.2f |\n", c.label, static_cast<long long>(c.samples),
                  100 * c.quant_correct / n);
    }
  }
}

// A float model without a config: its own accuracy and per-class table (what a user checking a
// freshly exported model asks first).
void RunFloatEval(const EvalFlags& f, const Network& net, const Dataset& data) {
  const std::vector<int> top1 = ArgmaxColumns(ForwardFloat(net, InputBatch(data)));
  if (!f.predictions.empty()) {
    std::string csv = "index,label,float_top1\n";
    for (size_t i = 0; i < top1.size(); ++i) {
      csv += std::to_string(data.first_row + static_cast<int64_t>(i)) + "," +
             (data.HasLabels() ? std::to_string(data.labels[i]) : "") + "," +
             std::to_string(top1[i]) + "\n";
    }
    WriteFileAtomic(f.predictions, csv);
  }
  std::vector<ClassStats> classes(net.NumClasses());
  int64_t right = 0;
  for (size_t i = 0; i < data.labels.size(); ++i) {
    ClassStats& c = classes[data.labels[i]];
    c.label = data.labels[i];
    ++c.samples;
    c.float_correct += top1[i] == data.labels[i];
    right += top1[i] == data.labels[i];
  }
  const double accuracy = data.rows > 0 ? static_cast<double>(right) / data.rows : 0.0;
  nlohmann::json j = {
      {"samples", data.rows},
      {"float",
       {{"accuracy", data.HasLabels() ? nlohmann::json(accuracy) : nlohmann::json(nullptr)}}},
      {"quantized", nullptr}};
  if (f.json) {
    nlohmann::json per_class = nlohmann::json::array();
    for (size_t k = 0; k < classes.size() && data.HasLabels(); ++k) {
      const double n = classes[k].samples > 0 ? static_cast<double>(classes[k].samples) : 1.0;
      per_class.push_back({{"label", static_cast<int>(k)},
                           {"samples", classes[k].samples},
                           {"float_accuracy", classes[k].float_correct / n}});
    }
    if (data.HasLabels()) j["per_class"] = per_class;
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("samples: %lld\n", static_cast<long long>(data.rows));
  if (!data.HasLabels()) {
    std::printf("(no labels: give --labels for the float accuracy)\n");
    return;
  }
  std::printf("float accuracy:      %7.2f %%\n", 100 * accuracy);
  std::printf("\n| class | samples | float %% |\n|---:|---:|---:|\n");
  for (size_t k = 0; k < classes.size(); ++k) {
    const double n = classes[k].samples > 0 ? static_cast<double>(classes[k].samples) : 1.0;
    std::printf("| %d | %lld | %.2f |\n", static_cast<int>(k),
                static_cast<long long>(classes[k].samples), 100 * classes[k].float_correct / n);
  }
}

void RunEval(const EvalFlags& f) {
  Dataset data = LoadDataset(ToDataOptions(f.data, f.data.range));
  Dataset calibration = data;
  if (!f.calibration_range.empty()) {
    calibration = LoadDataset(ToDataOptions(f.data, f.calibration_range));
  }
  ModelFile model = OpenModel(f.model, f.config, calibration, /*float_alone=*/true);
  CheckLabelClasses(data, model.float_network.NumClasses());
  if (!model.has_quantized) return RunFloatEval(f, model.float_network, data);
  Predictions p = Predict(model.float_network, model.quantized, data);
  EvalSummary s = Summarize(p, model.float_network.NumClasses());
  if (!f.predictions.empty()) {
    std::string csv = "index,label,float_top1,quantized_top1\n";
    for (size_t i = 0; i < p.float_top1.size(); ++i) {
      csv += std::to_string(data.first_row + static_cast<int64_t>(i)) + "," +
             (p.labels.empty() ? "" : std::to_string(p.labels[i])) + "," +
             (p.has_float ? std::to_string(p.float_top1[i]) : std::string()) + "," +
             std::to_string(p.quant_top1[i]) + "\n";
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
  cmd->add_option("--config", flags->config,
                  "Quantization config JSON (without it, a float model's own accuracy)");
  AddDataFlags(cmd, flags->data, true);
  cmd->add_option("--calibration-range", flags->calibration_range,
                  "Rows A:B used to calibrate activation scales (default: the evaluated rows)");
  cmd->add_flag("--json", flags->json, "One JSON object on stdout");
  cmd->add_option("--predictions", flags->predictions,
                  "Write index,label,float_top1,quantized_top1 CSV");
  cmd->callback([flags] { RunEval(*flags); });
}

}  // namespace qrepair::cli
