// Accuracy, agreement and per-class figures from the float and integer passes.
#include "qrepair/quant/evaluate.h"

#include <nlohmann/json.hpp>

#include "qrepair/quant/forward.h"

namespace qrepair {

namespace {

// Chunks bound the memory of the traces (conv nets) without changing any result.
constexpr int64_t kChunk = 4096;

template <typename Inputs>
Predictions PredictChunks(const Network& float_net, const QuantizedNetwork& qnet, int64_t rows,
                          const Inputs& inputs) {
  Predictions p;
  p.has_float = !float_net.stand_in;
  for (int64_t begin = 0; begin < rows; begin += kChunk) {
    const FloatBatch x = inputs(begin, std::min(rows, begin + kChunk));
    auto q = PredictQuantized(qnet, x);
    // A stand-in has no float decisions of its own: its integer network's are repeated.
    auto f = float_net.stand_in ? q : ArgmaxColumns(ForwardFloat(float_net, x));
    p.float_top1.insert(p.float_top1.end(), f.begin(), f.end());
    p.quant_top1.insert(p.quant_top1.end(), q.begin(), q.end());
  }
  return p;
}

}  // namespace

Predictions Predict(const Network& float_net, const QuantizedNetwork& qnet, const Dataset& data) {
  Predictions p = PredictChunks(float_net, qnet, data.rows, [&](int64_t begin, int64_t end) {
    return InputBatch(data, begin, end);
  });
  p.labels = data.labels;
  return p;
}

Predictions Predict(const Network& float_net, const QuantizedNetwork& qnet,
                    const FloatBatch& inputs) {
  return PredictChunks(float_net, qnet, inputs.cols(), [&](int64_t begin, int64_t end) {
    return FloatBatch(inputs.middleCols(begin, end - begin));
  });
}

EvalSummary Summarize(const Predictions& p, int num_classes) {
  EvalSummary s;
  s.samples = static_cast<int64_t>(p.float_top1.size());
  s.has_labels = !p.labels.empty();
  s.has_float = p.has_float;
  int64_t agree = 0, float_ok = 0, quant_ok = 0;
  if (s.has_labels) {
    int classes = num_classes;
    for (int l : p.labels) classes = std::max(classes, l + 1);
    s.per_class.resize(classes);
    for (int c = 0; c < classes; ++c) s.per_class[c].label = c;
  }
  for (int64_t i = 0; i < s.samples; ++i) {
    agree += p.float_top1[i] == p.quant_top1[i];
    if (s.has_labels) {
      ClassStats& c = s.per_class[p.labels[i]];
      ++c.samples;
      c.float_correct += p.float_top1[i] == p.labels[i];
      c.quant_correct += p.quant_top1[i] == p.labels[i];
      float_ok += p.float_top1[i] == p.labels[i];
      quant_ok += p.quant_top1[i] == p.labels[i];
    }
  }
  double n = s.samples > 0 ? static_cast<double>(s.samples) : 1.0;
  s.agreement = agree / n;
  s.float_accuracy = float_ok / n;
  s.quant_accuracy = quant_ok / n;
  return s;
}

void to_json(nlohmann::json& j, const EvalSummary& s) {
  j = {{"samples", s.samples},
       {"float", nlohmann::json::object()},
       {"quantized", {{"agreement", s.has_float ? nlohmann::json(s.agreement) : nullptr}}}};
  if (!s.has_float) j["float"] = nullptr;
  if (s.has_labels) {
    if (s.has_float) j["float"]["accuracy"] = s.float_accuracy;
    j["quantized"]["accuracy"] = s.quant_accuracy;
    nlohmann::json classes = nlohmann::json::array();
    for (const ClassStats& c : s.per_class) {
      double n = c.samples > 0 ? static_cast<double>(c.samples) : 1.0;
      classes.push_back({{"label", c.label},
                         {"samples", c.samples},
                         {"float_accuracy", s.has_float ? nlohmann::json(c.float_correct / n)
                                                        : nlohmann::json(nullptr)},
                         {"quantized_accuracy", c.quant_correct / n}});
    }
    j["per_class"] = classes;
  } else {
    if (s.has_float) j["float"]["accuracy"] = nullptr;
    j["quantized"]["accuracy"] = nullptr;
  }
}

}  // namespace qrepair
