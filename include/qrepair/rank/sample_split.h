// Which samples the quantized network gets wrong (failing) and right (passing), by target.
#pragma once

#include <vector>

#include "qrepair/io/dataset.h"
#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"

namespace qrepair {

enum class RepairTarget {
  kFloat,   // a sample passes when the quantized top-1 equals the float top-1
  kLabels,  // a sample passes when the quantized top-1 equals the true label
};

struct SampleSplit {
  std::vector<int> target;  // per sample: the class the quantized network should output
  std::vector<int> float_top1;
  std::vector<int> quant_top1;
  std::vector<int64_t> failing;  // indices into the data set
  std::vector<int64_t> passing;
};

SampleSplit SplitSamples(const Network& float_net, const QuantizedNetwork& qnet,
                         const Dataset& data, RepairTarget target);
// Recomputes quant_top1/failing/passing for another quantized network (same targets).
void UpdateSplit(SampleSplit& split, const std::vector<int>& quant_top1);

}  // namespace qrepair
