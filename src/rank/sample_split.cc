// Failing/passing split of a data set under a repair target.
#include "qrepair/rank/sample_split.h"

#include "qrepair/error.h"

namespace qrepair {

SampleSplit SplitSamples(const Network& float_net, const QuantizedNetwork& qnet,
                         const Dataset& data, RepairTarget target) {
  if (target == RepairTarget::kLabels && !data.HasLabels()) {
    throw Error(ExitCode::kUsage, data.source + ": --target labels needs labels (--labels)");
  }
  SampleSplit split;
  const int64_t chunk = 4096;
  for (int64_t begin = 0; begin < data.rows; begin += chunk) {
    int64_t end = std::min(data.rows, begin + chunk);
    FloatBatch x = InputBatch(data, begin, end);
    auto f = ArgmaxColumns(ForwardFloat(float_net, x));
    split.float_top1.insert(split.float_top1.end(), f.begin(), f.end());
  }
  split.target = target == RepairTarget::kFloat ? split.float_top1 : data.labels;
  std::vector<int> q;
  for (int64_t begin = 0; begin < data.rows; begin += chunk) {
    int64_t end = std::min(data.rows, begin + chunk);
    auto part = PredictQuantized(qnet, InputBatch(data, begin, end));
    q.insert(q.end(), part.begin(), part.end());
  }
  UpdateSplit(split, q);
  return split;
}

void UpdateSplit(SampleSplit& split, const std::vector<int>& quant_top1) {
  split.quant_top1 = quant_top1;
  split.failing.clear();
  split.passing.clear();
  for (int64_t i = 0; i < static_cast<int64_t>(quant_top1.size()); ++i) {
    (quant_top1[i] == split.target[i] ? split.passing : split.failing).push_back(i);
  }
}

}  // namespace qrepair
