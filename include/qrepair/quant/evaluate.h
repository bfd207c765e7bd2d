// Accuracy and float/quantized agreement of a quantized network on a data set.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "qrepair/io/dataset.h"
#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"

namespace qrepair {

struct Predictions {
  std::vector<int> labels;  // empty when the data set has none
  std::vector<int> float_top1;
  std::vector<int> quant_top1;
  // False when the float network is a stand-in (Network::stand_in): float_top1 then repeats
  // quant_top1, and no float figure is reported.
  bool has_float = true;
};

struct ClassStats {
  int label = 0;
  int64_t samples = 0;
  int64_t float_correct = 0;
  int64_t quant_correct = 0;
};

struct EvalSummary {
  int64_t samples = 0;
  bool has_labels = false;
  double float_accuracy = 0;
  double quant_accuracy = 0;
  double agreement = 0;   // quantized top-1 == float top-1
  bool has_float = true;  // false: float_accuracy and agreement mean nothing (written as null)
  std::vector<ClassStats> per_class;
};

Predictions Predict(const Network& float_net, const QuantizedNetwork& qnet, const Dataset& data);
// The same for network inputs (one column per sample), without labels.
Predictions Predict(const Network& float_net, const QuantizedNetwork& qnet,
                    const FloatBatch& inputs);
EvalSummary Summarize(const Predictions& p, int num_classes);
void to_json(nlohmann::json& json, const EvalSummary& summary);

}  // namespace qrepair
