// `qrepair rank`: which quantized neurons cost the accuracy, as a table or a JSON array.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "qrepair/io/model_source.h"
#include "qrepair/rank/ranking.h"
#include "qrepair/rank/sample_split.h"

namespace qrepair::cli {

namespace {

struct RankFlags {
  std::string model;
  std::string config;
  DataFlags data;
  std::string calibration_range;
  std::string method = "gradient";
  std::string spectrum = "deviation";
  std::vector<std::string> layers;
  int64_t top = 20;
  std::string target = "float";
  double threshold = 1.0;
  uint64_t seed = 1;
  bool json = false;
};

void PrintTable(const std::vector<NeuronScore>& neurons) {
  std::printf("| layer | neuron | score | failing | passing |\n|---|---:|---:|---:|---:|\n");
  for (const NeuronScore& n : neurons) {
    std::printf("| %s | %d | %.6g | %lld | %lld |\n", n.layer_name.c_str(), n.unit, n.score,
                static_cast<long long>(n.failing_active), static_cast<long long>(n.passing_active));
  }
}

void RunRank(const RankFlags& f) {
  RankOptions options;
  options.method = ParseRankMethod(f.method);
  options.spectrum = f.spectrum == "active" ? RankSpectrum::kActive : RankSpectrum::kDeviation;
  options.layers = f.layers;
  options.deviation_threshold = f.threshold;
  options.seed = f.seed;
  const RepairTarget target = f.target == "labels" ? RepairTarget::kLabels : RepairTarget::kFloat;

  Dataset data = LoadDataset(ToDataOptions(f.data, f.data.range));
  Dataset calibration = data;
  if (!f.calibration_range.empty()) {
    calibration = LoadDataset(ToDataOptions(f.data, f.calibration_range));
  }
  ModelFile model = OpenModel(f.model, f.config, calibration);
  CheckLabelClasses(data, model.float_network.NumClasses());
  if (model.float_network.stand_in && target == RepairTarget::kFloat) {
    throw Error(ExitCode::kUsage,
                f.model +
                    " has no float network behind it: rank against the labels (--target "
                    "labels)");
  }
  SampleSplit split = SplitSamples(model.float_network, model.quantized, data, target);
  spdlog::info("{} samples: {} failing, {} passing (target {}); method {}", data.rows,
               split.failing.size(), split.passing.size(), f.target,
               RankMethodName(options.method));
  if (split.failing.empty()) spdlog::warn("no failing samples: every score is 0");

  std::vector<NeuronScore> neurons =
      RankNeurons(model.float_network, model.quantized, data, split, options);
  if (f.top > 0 && static_cast<int64_t>(neurons.size()) > f.top) neurons.resize(f.top);
  if (f.json) {
    nlohmann::json j = neurons;
    std::cout << j.dump(2) << "\n";
  } else {
    PrintTable(neurons);
  }
}

}  // namespace

void SetUpRank(CLI::App& app) {
  auto f = std::make_shared<RankFlags>();
  CLI::App* cmd = app.add_subcommand("rank", "Rank the quantized neurons by how much they cost");
  cmd->add_option("model", f->model, "Float model (.onnx, .nnet, .json) or quantized .json")
      ->required();
  cmd->add_option("--config", f->config, "Quantization config JSON (needed for a float model)");
  AddDataFlags(cmd, f->data, true);
  cmd->add_option("--calibration-range", f->calibration_range,
                  "Rows A:B used to calibrate activation scales (default: the ranked rows)");
  cmd->add_option("--method", f->method, "Ranking method")
      ->check(CLI::IsMember(RankMethodNames()))
      ->capture_default_str();
  cmd->add_option("--spectrum", f->spectrum,
                  "What flags a neuron for the spectrum formulas and the failing/passing counts: "
                  "its float-vs-integer deviation, or its activity")
      ->check(CLI::IsMember({"deviation", "active"}))
      ->capture_default_str();
  cmd->add_option("--threshold", f->threshold,
                  "Deviation above this many output quanta flags a neuron")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--layers", f->layers, "Only these dense/convolution layers (by name)");
  cmd->add_option("--top", f->top, "Print the K most suspicious neurons (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--target", f->target,
                  "A sample fails where the quantized top-1 differs from the float top-1, or from "
                  "the label")
      ->check(CLI::IsMember({"float", "labels"}))
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "Seed of the random ranking")->capture_default_str();
  cmd->add_flag("--json", f->json,
                "A JSON array of {layer, layer_name, neuron, score, failing, passing}");
  cmd->callback([f] { RunRank(*f); });
}

}  // namespace qrepair::cli
