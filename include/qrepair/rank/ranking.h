// Neuron-importance ranking: which quantized neurons cost the accuracy (issue: ranking).
// The ranking is a plain value the repair engine reads; it is deterministic for the same inputs.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "qrepair/io/dataset.h"
#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/rank/sample_split.h"

namespace qrepair {

enum class RankMethod {
  kTarantula,
  kOchiai,
  kDStar2,
  kDStar3,
  kJaccard,
  kEuclid,
  kAmple,
  kWong3,
  kGradient,    // |d margin / d activation| x quantization error, over failing samples
  kQuantError,  // float-vs-integer output deviation weighted by downstream weights
  kRandom,      // control: a seeded random order
};

// Names as used on the command line ("tarantula", "dstar2", "gradient", ...).
const std::vector<std::string>& RankMethodNames();
RankMethod ParseRankMethod(const std::string& name);  // throws Error(kUsage)
const char* RankMethodName(RankMethod method);

struct NeuronScore {
  int layer = 0;  // index into QuantizedNetwork::layers (a linear layer)
  std::string layer_name;
  int unit = 0;                // dense neuron or convolution channel
  double score = 0;            // higher = more suspicious
  int64_t failing_active = 0;  // failing samples on which the neuron's spectrum flags it
  int64_t passing_active = 0;
};

// What flags a neuron on a sample, for the spectrum formulas and the failing/passing counts.
// A convolution channel is judged on its mean over positions. Deviation is the default because
// it is what quantization changes; activity largely follows the input in both networks alike.
// (Which spectrum ranks better for repair is for the ranking benchmark to show.)
enum class RankSpectrum {
  kDeviation,  // |float - dequantized integer activation| > deviation_threshold quanta (default)
  kActive,     // integer activation > 0
};

struct RankOptions {
  RankMethod method = RankMethod::kGradient;
  RankSpectrum spectrum = RankSpectrum::kDeviation;
  std::vector<std::string> layers;  // restrict to these layer names (empty: all linear layers)
  // In output quanta (output.scale; for the int32 logits and weights-only networks, one step of
  // an activation code over the layer's float range): |float - dequantized integer| above this.
  double deviation_threshold = 1.0;
  uint64_t seed = 1;  // kRandom only
};

// All neurons of the selected layers, sorted by descending score (ties: layer, then unit).
std::vector<NeuronScore> RankNeurons(const Network& float_net, const QuantizedNetwork& qnet,
                                     const Dataset& data, const SampleSplit& split,
                                     const RankOptions& options);

void to_json(nlohmann::json& json, const NeuronScore& score);

}  // namespace qrepair
