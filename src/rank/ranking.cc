// Neuron ranking: turns the per-neuron statistics into one score per neuron and a sorted list.
#include "qrepair/rank/ranking.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "qrepair/error.h"
#include "rank/neuron_statistics.h"
#include "rank/spectrum_formulas.h"

namespace qrepair {

namespace {

struct MethodName {
  RankMethod method;
  const char* name;
};

constexpr MethodName kMethodNames[] = {
    {RankMethod::kTarantula, "tarantula"}, {RankMethod::kOchiai, "ochiai"},
    {RankMethod::kDStar2, "dstar2"},       {RankMethod::kDStar3, "dstar3"},
    {RankMethod::kJaccard, "jaccard"},     {RankMethod::kEuclid, "euclid"},
    {RankMethod::kAmple, "ample"},         {RankMethod::kWong3, "wong3"},
    {RankMethod::kGradient, "gradient"},   {RankMethod::kQuantError, "quant-error"},
    {RankMethod::kRandom, "random"},
};

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Linear layers of `qnet` named in `names` (all of them when `names` is empty), in layer order.
std::vector<int> SelectLayers(const QuantizedNetwork& qnet, const std::vector<std::string>& names) {
  std::vector<int> linear;
  std::vector<std::string> linear_names;
  for (int k = 0; k < static_cast<int>(qnet.layers.size()); ++k) {
    if (!qnet.layers[k].IsLinear()) continue;
    linear.push_back(k);
    linear_names.push_back(qnet.layers[k].name);
  }
  if (names.empty()) return linear;
  std::vector<int> selected;
  for (const std::string& name : names) {
    auto it = std::find(linear_names.begin(), linear_names.end(), name);
    if (it == linear_names.end()) {
      throw Error(ExitCode::kUsage, "layer '" + name +
                                        "' is not a dense or convolution layer of '" + qnet.name +
                                        "'; its linear layers are: " + JoinNames(linear_names));
    }
    selected.push_back(linear[it - linear_names.begin()]);
  }
  std::sort(selected.begin(), selected.end());
  selected.erase(std::unique(selected.begin(), selected.end()), selected.end());
  return selected;
}

// Fisher-Yates with the raw generator output, so that the order is the same with every standard
// library (std::shuffle and the distributions are implementation-defined).
void AssignRandomScores(std::vector<NeuronScore>& neurons, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> order(neurons.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  // The first in the shuffled order gets the highest score.
  for (size_t rank = 0; rank < order.size(); ++rank) {
    neurons[order[rank]].score = static_cast<double>(order.size() - rank);
  }
}

}  // namespace

const std::vector<std::string>& RankMethodNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const MethodName& m : kMethodNames) v.emplace_back(m.name);
    return v;
  }();
  return names;
}

RankMethod ParseRankMethod(const std::string& name) {
  for (const MethodName& m : kMethodNames) {
    if (name == m.name) return m.method;
  }
  throw Error(ExitCode::kUsage, "unknown ranking method '" + name +
                                    "'; expected one of: " + JoinNames(RankMethodNames()));
}

const char* RankMethodName(RankMethod method) {
  for (const MethodName& m : kMethodNames) {
    if (m.method == method) return m.name;
  }
  return "?";
}

std::vector<NeuronScore> RankNeurons(const Network& float_net, const QuantizedNetwork& qnet,
                                     const Dataset& data, const SampleSplit& split,
                                     const RankOptions& options) {
  StatisticsOptions so;
  so.spectrum = options.spectrum;
  so.deviation_threshold = options.deviation_threshold;
  so.gradient = options.method == RankMethod::kGradient;
  so.layers = SelectLayers(qnet, options.layers);
  std::vector<LayerStatistics> stats = CollectNeuronStatistics(float_net, qnet, data, split, so);

  const int64_t failing = static_cast<int64_t>(split.failing.size());
  const int64_t passing = static_cast<int64_t>(split.passing.size());
  std::vector<NeuronScore> neurons;
  for (const LayerStatistics& st : stats) {
    for (int u = 0; u < st.units; ++u) {
      NeuronScore n;
      n.layer = st.layer;
      n.layer_name = st.name;
      n.unit = u;
      n.failing_active = st.failing_flagged[u];
      n.passing_active = st.passing_flagged[u];
      if (IsSpectrumMethod(options.method)) {
        SpectrumCounts c{n.failing_active, n.passing_active, failing - n.failing_active,
                         passing - n.passing_active};
        n.score = SpectrumScore(options.method, c);
      } else if (options.method == RankMethod::kGradient) {
        n.score = st.gradient[u];
      } else if (options.method == RankMethod::kQuantError) {
        n.score = st.quant_error[u] * st.downstream_weight[u];
      }
      if (std::isnan(n.score)) n.score = 0;  // keeps the sort a strict weak order
      neurons.push_back(std::move(n));
    }
  }
  if (options.method == RankMethod::kRandom) AssignRandomScores(neurons, options.seed);
  std::sort(neurons.begin(), neurons.end(), [](const NeuronScore& a, const NeuronScore& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.layer != b.layer) return a.layer < b.layer;
    return a.unit < b.unit;
  });
  return neurons;
}

void to_json(nlohmann::json& json, const NeuronScore& score) {
  json = nlohmann::json{
      {"layer", score.layer}, {"layer_name", score.layer_name},  {"neuron", score.unit},
      {"score", score.score}, {"failing", score.failing_active}, {"passing", score.passing_active}};
}

}  // namespace qrepair
