// Per-neuron statistics of a quantized network against its float network on a data set: the
// spectrum counts, the quantization error and the margin gradient that the rankers score.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qrepair/io/dataset.h"
#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/rank/ranking.h"
#include "qrepair/rank/sample_split.h"

namespace qrepair {

// The tensor a linear layer's integer codes represent is its output after the fused activation;
// its float counterpart is the float layer of the same name, or the ReLU/LeakyReLU right after
// it. Integer codes are dequantized as code * output.scale (the logits too).
//
// A convolution channel counts as one neuron: per sample, it is "active" when its mean
// activation over positions is > 0 (for ReLU outputs: when any position is), "deviating" when
// its mean |float - dequantized| over positions exceeds the threshold, and its quantization
// error and gradient term are sums over positions.
struct LayerStatistics {
  int layer = 0;  // index into QuantizedNetwork::layers
  std::string name;
  int units = 0;
  int positions = 1;                     // output positions per unit (1 for dense)
  double quantum = 0;                    // one output step (see CollectNeuronStatistics)
  std::vector<int64_t> failing_flagged;  // per unit: failing samples its spectrum flags
  std::vector<int64_t> passing_flagged;
  // Per unit, summed over failing samples: |float - dequantized integer| (summed over positions).
  std::vector<double> quant_error;
  // Per unit: mean over the next linear layer's input positions fed by the unit of
  // sum_k |W_next[k][position]| (float weights); 1 for the logit layer.
  std::vector<double> downstream_weight;
  // Per unit, summed over failing samples and positions: |d margin / d activation| *
  // |float - dequantized integer|. Empty unless asked for.
  std::vector<double> gradient;
};

struct StatisticsOptions {
  RankSpectrum spectrum = RankSpectrum::kDeviation;
  double deviation_threshold = 1.0;  // in quanta
  bool gradient = false;             // run the margin backward pass on the failing samples
  std::vector<int> layers;           // linear layers of the quantized network to collect
};

// Runs the float and the quantized network over `data` in chunks (failing samples first). A
// layer's quantum is its output.scale, except where that is no activation step: the int32 logits
// (their scale is the accumulator's, far below what moves a decision) and every layer of a
// weights-only network (float activations; the quantized side is then the float pass with the
// dequantized weights). Those get the step of the code they would have had: the config's
// activation bits (8 for weights-only) over the float values' range on `data`, as quantization
// calibrates. Throws Error(kBadInput) when a quantized layer has no float counterpart of the
// same name and shape.
std::vector<LayerStatistics> CollectNeuronStatistics(const Network& float_net,
                                                     const QuantizedNetwork& qnet,
                                                     const Dataset& data, const SampleSplit& split,
                                                     const StatisticsOptions& options);

}  // namespace qrepair
