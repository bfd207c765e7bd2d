// Collects the per-neuron statistics the rankers score, in chunks of samples, with one float
// pass, one quantized pass and (for the gradient) one backward pass over the failing samples.
#include "rank/neuron_statistics.h"

#include <algorithm>
#include <cmath>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "quant/layer_alignment.h"
#include "rank/margin_gradient.h"

namespace qrepair {

namespace {

// Keeps a chunk's traces (float, integer and dequantized) near this many floats.
constexpr int64_t kChunkFloats = int64_t{1} << 22;

FloatBatch GatherRows(const Dataset& data, const std::vector<int64_t>& rows, size_t begin,
                      size_t end) {
  FloatBatch x(data.features, static_cast<int64_t>(end - begin));
  for (size_t i = begin; i < end; ++i) {
    x.col(static_cast<int64_t>(i - begin)) =
        Eigen::Map<const Eigen::VectorXf>(data.Row(rows[i]), data.features);
  }
  return x;
}

// units x samples: each unit's sum over its positions (rows u*positions .. +positions-1).
Eigen::ArrayXXf UnitSums(const Eigen::ArrayXXf& x, int units, int positions) {
  if (positions == 1) return x;
  Eigen::ArrayXXf sums(units, x.cols());
  for (int64_t s = 0; s < x.cols(); ++s) {
    sums.col(s) = Eigen::Map<const Eigen::ArrayXXf>(x.col(s).data(), positions, units)
                      .colwise()
                      .sum()
                      .transpose();
  }
  return sums;
}

// Per sample: the highest-scoring class other than the target (lowest index on ties).
template <typename Matrix>
std::vector<int> RunnerUp(const Matrix& logits, const std::vector<int>& target) {
  std::vector<int> runner_up(target.size());
  for (int64_t s = 0; s < logits.cols(); ++s) {
    int best = -1;
    for (int k = 0; k < logits.rows(); ++k) {
      if (k != target[s] && (best < 0 || logits(k, s) > logits(best, s))) best = k;
    }
    runner_up[s] = best < 0 ? target[s] : best;
  }
  return runner_up;
}

void AddTo(std::vector<double>& total, const Eigen::ArrayXf& part) {
  for (size_t u = 0; u < total.size(); ++u) total[u] += part(static_cast<int64_t>(u));
}

class Collector {
 public:
  Collector(const Network& float_net, const QuantizedNetwork& qnet, const SampleSplit& split,
            const StatisticsOptions& options)
      : float_net_(float_net), qnet_(qnet), split_(split), options_(options) {
    const int n = static_cast<int>(qnet.layers.size());
    backward_.network = &qnet;
    backward_.float_weights.assign(n, nullptr);
    for (int k = 0; k < n; ++k) {
      if (qnet.layers[k].IsLinear()) {
        backward_.float_weights[k] =
            &float_net.layers[FindFloatLayer(float_net, qnet.layers[k])].weights;
      }
    }
    if (qnet.float_activations) mirror_ = DequantizedNetwork(qnet);
    post_to_stat_.assign(n, -1);
    for (int k : options.layers) {
      const QuantLayer& q = qnet.layers[k];
      const int post = QuantizedActivationLayer(qnet, k);
      const int float_post = FloatActivationLayer(float_net, q);
      if (float_net.layers[float_post].output_shape != qnet.layers[post].output_shape) {
        throw Error(ExitCode::kBadInput, "layer '" + q.name + "': float output " +
                                             float_net.layers[float_post].output_shape.ToString() +
                                             " differs from the quantized output " +
                                             qnet.layers[post].output_shape.ToString());
      }
      LayerStatistics st;
      st.layer = k;
      st.name = q.name;
      st.units = q.Units();
      st.positions = static_cast<int>(q.output_shape.Size() / q.Units());
      st.quantum = qnet.layers[post].output.scale;
      Deferred deferred;
      deferred.needed = options.spectrum == RankSpectrum::kDeviation &&
                        (qnet.float_activations || qnet.layers[post].output.bits >= 32);
      st.failing_flagged.assign(st.units, 0);
      st.passing_flagged.assign(st.units, 0);
      st.quant_error.assign(st.units, 0.0);
      st.downstream_weight = DownstreamWeights(qnet, float_net, k);
      if (options.gradient) st.gradient.assign(st.units, 0.0);
      post_to_stat_[post] = static_cast<int>(stats_.size());
      stats_.push_back(std::move(st));
      deferred_.push_back(std::move(deferred));
      posts_.push_back(post);
      float_posts_.push_back(float_post);
    }
  }

  std::vector<LayerStatistics> Run(const Dataset& data) {
    if (stats_.empty()) return std::move(stats_);
    int64_t per_sample = data.features;
    for (const Layer& l : float_net_.layers) per_sample += l.output_shape.Size();
    for (const QuantLayer& l : qnet_.layers) per_sample += 2 * l.output_shape.Size();
    const size_t chunk =
        static_cast<size_t>(std::clamp<int64_t>(kChunkFloats / per_sample, 16, 2048));
    for (bool failing : {true, false}) {
      const std::vector<int64_t>& rows = failing ? split_.failing : split_.passing;
      for (size_t begin = 0; begin < rows.size(); begin += chunk) {
        size_t end = std::min(rows.size(), begin + chunk);
        std::vector<int> target(end - begin);
        for (size_t i = begin; i < end; ++i) target[i - begin] = split_.target[rows[i]];
        Chunk(GatherRows(data, rows, begin, end), target, failing);
      }
    }
    for (size_t i = 0; i < stats_.size(); ++i) {
      if (deferred_[i].needed) CountDeferred(i);
    }
    return std::move(stats_);
  }

 private:
  // A layer without an activation code of its own (the int32 logits, whose scale is the
  // accumulator's, or any layer of a weights-only network) gets the step of the code it would
  // have: the config's activation bits (8 for weights-only) calibrated on the float values seen,
  // unsigned when they are all >= 0. Its flags wait until that range is known.
  struct Deferred {
    bool needed = false;
    float min = 0.0f, max = 0.0f;
    std::vector<Eigen::ArrayXXf> unit_deviation[2];  // [passing, failing], one per chunk
  };

  void CountDeferred(size_t i) {
    LayerStatistics& st = stats_[i];
    Deferred& d = deferred_[i];
    const int bits = qnet_.float_activations ? 8 : qnet_.input.bits;
    const double qmax = static_cast<double>(d.min < 0.0f ? SignedMax(bits) : UnsignedMax(bits));
    st.quantum = std::max(std::max(std::abs(d.min), std::abs(d.max)) / qmax, 1e-30);
    for (bool failing : {false, true}) {
      for (const Eigen::ArrayXXf& unit_deviation : d.unit_deviation[failing]) {
        CountFlags(st, unit_deviation > FlagLimit(st), failing);
      }
      d.unit_deviation[failing].clear();
    }
  }

  float FlagLimit(const LayerStatistics& st) const {
    return static_cast<float>(options_.deviation_threshold * st.quantum * st.positions);
  }

  static void CountFlags(LayerStatistics& st,
                         const Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic>& flagged,
                         bool failing) {
    Eigen::Array<int64_t, Eigen::Dynamic, 1> counts = flagged.cast<int64_t>().rowwise().sum();
    std::vector<int64_t>& total = failing ? st.failing_flagged : st.passing_flagged;
    for (int u = 0; u < st.units; ++u) total[u] += counts(u);
  }

  // Dequantized outputs of every quantized layer, and each sample's runner-up class.
  std::vector<FloatBatch> QuantizedTrace(const FloatBatch& x, const std::vector<int>& target,
                                         std::vector<int>& runner_up) {
    std::vector<FloatBatch> out;
    if (qnet_.float_activations) {
      ForwardFloat(mirror_, x, &out);
      if (!qnet_.input_offset.empty()) out.erase(out.begin());
      runner_up = RunnerUp(out.back(), target);
      return out;
    }
    std::vector<CodeBatch> codes;
    ForwardInteger(qnet_, QuantizeInput(qnet_, x), &codes);
    runner_up = RunnerUp(codes.back(), target);
    out.resize(codes.size());
    for (size_t k = 0; k < codes.size(); ++k) {
      const ActivationCode& code = qnet_.layers[k].output;
      out[k] = (codes[k].array() - static_cast<int32_t>(code.zero_point)).cast<float>() *
               static_cast<float>(code.scale);
    }
    return out;
  }

  void Chunk(const FloatBatch& x, const std::vector<int>& target, bool failing) {
    std::vector<FloatBatch> float_trace;
    ForwardFloat(float_net_, x, &float_trace);
    std::vector<int> runner_up;
    std::vector<FloatBatch> quant_trace = QuantizedTrace(x, target, runner_up);
    std::vector<Eigen::ArrayXXf> deviation(stats_.size());
    for (size_t i = 0; i < stats_.size(); ++i) {
      LayerStatistics& st = stats_[i];
      const FloatBatch& f = float_trace[float_posts_[i]];
      const FloatBatch& q = quant_trace[posts_[i]];
      deviation[i] = (f - q).array().abs();
      Eigen::ArrayXXf unit_deviation = UnitSums(deviation[i], st.units, st.positions);
      if (failing) AddTo(st.quant_error, unit_deviation.rowwise().sum());
      if (options_.spectrum == RankSpectrum::kActive) {
        CountFlags(st, UnitSums(q.array(), st.units, st.positions) > 0.0f, failing);
      } else if (deferred_[i].needed) {
        Deferred& d = deferred_[i];
        d.min = std::min(d.min, f.minCoeff());
        d.max = std::max(d.max, f.maxCoeff());
        d.unit_deviation[failing].push_back(std::move(unit_deviation));
      } else {
        CountFlags(st, unit_deviation > FlagLimit(st), failing);
      }
    }
    if (!failing || !options_.gradient) return;
    int stop = *std::min_element(posts_.begin(), posts_.end());
    backward_.outputs = &quant_trace;
    BackwardMargin(backward_, target, runner_up, stop, [&](int k, const FloatBatch& g) {
      int i = post_to_stat_[k];
      if (i < 0) return;
      LayerStatistics& st = stats_[i];
      AddTo(st.gradient,
            UnitSums(g.array().abs() * deviation[i], st.units, st.positions).rowwise().sum());
    });
    backward_.outputs = nullptr;
  }

  const Network& float_net_;
  const QuantizedNetwork& qnet_;
  const SampleSplit& split_;
  const StatisticsOptions& options_;
  Network mirror_;  // weights-only networks: the dequantized float network
  MarginBackward backward_;
  std::vector<LayerStatistics> stats_;
  std::vector<int> posts_;          // per statistic: quantized layer holding the activation
  std::vector<int> float_posts_;    // per statistic: its float counterpart
  std::vector<int> post_to_stat_;   // per quantized layer: statistic index or -1
  std::vector<Deferred> deferred_;  // per statistic
};

}  // namespace

std::vector<LayerStatistics> CollectNeuronStatistics(const Network& float_net,
                                                     const QuantizedNetwork& qnet,
                                                     const Dataset& data, const SampleSplit& split,
                                                     const StatisticsOptions& options) {
  if (static_cast<int64_t>(split.target.size()) != data.rows) {
    throw InternalError("ranking: the sample split covers " + std::to_string(split.target.size()) +
                        " samples, the data set has " + std::to_string(data.rows));
  }
  if (data.features != qnet.input_shape.Size()) {
    throw Error(ExitCode::kBadInput,
                data.source + ": samples have " + std::to_string(data.features) +
                    " features, the network takes " + std::to_string(qnet.input_shape.Size()));
  }
  const int classes = qnet.NumClasses();
  for (size_t s = 0; s < split.target.size(); ++s) {
    if (split.target[s] < 0 || split.target[s] >= classes) {
      throw Error(ExitCode::kBadInput,
                  data.source + ": sample " +
                      std::to_string(data.first_row + static_cast<int64_t>(s)) + ": target class " +
                      std::to_string(split.target[s]) + " is not one of the network's classes 0.." +
                      std::to_string(classes - 1));
    }
  }
  for (int k : options.layers) {
    if (k < 0 || k >= static_cast<int>(qnet.layers.size()) || !qnet.layers[k].IsLinear()) {
      throw InternalError("ranking: layer " + std::to_string(k) + " is not a linear layer");
    }
  }
  return Collector(float_net, qnet, split, options).Run(data);
}

}  // namespace qrepair
