// Layer-by-layer re-rounding of a quantized network's weights (RTN, GPTQ, GPTQ towards float).
#include "qrepair/init.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <numeric>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "gptq.h"
#include "qrepair/error.h"
#include "qrepair/quantize.h"

namespace qrepair {

template <typename T>
void Im2ColT(const T* x, const Shape& in, const Window& w, const Shape& out,
             Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& cols);

InitMethod ParseInitMethod(const std::string& name, const std::string& flag) {
  if (name == "rtn") return InitMethod::kRtn;
  if (name == "gptq") return InitMethod::kGptq;
  if (name == "gptq-float") return InitMethod::kGptqFloat;
  throw Error(ExitCode::kUsage,
              flag + ": unknown initializer '" + name + "', expected rtn, gptq or gptq-float");
}

const char* InitMethodName(InitMethod method) {
  switch (method) {
    case InitMethod::kRtn:
      return "rtn";
    case InitMethod::kGptq:
      return "gptq";
    case InitMethod::kGptqFloat:
      return "gptq-float";
  }
  return "unknown";
}

namespace {

constexpr int64_t kMaxColumns = 200000;  // (sample, position) columns of X per layer
constexpr int64_t kMaxFanIn = 8192;      // H is fan_in^2 doubles

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using gptq::Checkpoint;

// Thrown by the init's checkpoint once should_stop says so; InitializeWeights catches it.
struct Stopped {};

// a * b, b's columns in pieces of about gptq::kPieceFlops, `checkpoint` before each.
Eigen::MatrixXd Product(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b,
                        const Checkpoint& checkpoint) {
  Eigen::MatrixXd out(a.rows(), b.cols());
  const int64_t piece =
      gptq::PieceColumns(2.0 * static_cast<double>(a.rows()) * static_cast<double>(a.cols()));
  for (int64_t c = 0; c < b.cols(); c += piece) {
    checkpoint();
    const int64_t m = std::min(piece, b.cols() - c);
    out.middleCols(c, m).noalias() = a * b.middleCols(c, m);
  }
  return out;
}

// Which (sample, position) columns of a layer's input matrix are used: every `stride`-th of
// the samples*positions, with the stride coprime to positions so that all positions are hit.
struct ColumnPlan {
  int64_t positions = 1;
  int64_t stride = 1;
  int64_t count = 0;
};

ColumnPlan PlanColumns(int64_t samples, int64_t positions) {
  ColumnPlan plan;
  plan.positions = positions;
  const int64_t total = samples * positions;
  if (total > kMaxColumns) {
    plan.stride = (total + kMaxColumns - 1) / kMaxColumns;
    while (std::gcd(plan.stride, positions) != 1) ++plan.stride;
  }
  plan.count = (total + plan.stride - 1) / plan.stride;
  return plan;
}

// The layer's inputs in real units as a (fan_in [+1 row of ones]) x plan.count matrix.
template <typename Scalar>
Eigen::MatrixXd InputMatrix(const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>& batch,
                            double scale, const Layer& layer, const ColumnPlan& plan,
                            bool append_ones, const Checkpoint& checkpoint) {
  const int64_t fan_in = layer.FanIn();
  Eigen::MatrixXd x(fan_in + (append_ones ? 1 : 0), plan.count);
  if (append_ones) x.row(fan_in).setOnes();
  if (layer.kind == LayerKind::kDense) {
    for (int64_t k = 0; k < plan.count; ++k) {
      x.col(k).head(fan_in) = batch.col(k * plan.stride).template cast<double>() * scale;
    }
    return x;
  }
  Eigen::VectorXd sample;
  Eigen::MatrixXd cols;
  int64_t loaded = -1;
  int64_t loads = 0;
  for (int64_t k = 0; k < plan.count; ++k) {
    const int64_t g = k * plan.stride;
    const int64_t s = g / plan.positions;
    if (s != loaded) {
      if (++loads % 256 == 0) checkpoint();
      sample = batch.col(s).template cast<double>() * scale;
      Im2ColT<double>(sample.data(), layer.input_shape, layer.window, layer.output_shape, cols);
      loaded = s;
    }
    x.col(k).head(fan_in) = cols.col(g % plan.positions);
  }
  return x;
}

// The float layer a quantized one stands for, with its weights for the weights-only pass.
Layer DequantizedLayer(const QuantLayer& q) {
  Layer layer;
  layer.kind = q.kind;
  layer.name = q.name;
  layer.input_shape = q.input_shape;
  layer.output_shape = q.output_shape;
  layer.window = q.window;
  layer.alpha = q.leaky_alpha;
  if (q.IsLinear()) {
    const int64_t fan_in = q.FanIn();
    layer.weights.resize(q.weights_q.size());
    for (size_t i = 0; i < q.weights_q.size(); ++i) {
      layer.weights[i] =
          static_cast<float>(q.weights_q[i] * q.WeightScale(static_cast<int>(i / fan_in)));
    }
    layer.bias = q.bias_float;
  }
  return layer;
}

// What the quantized network computes at the current layer: codes, or floats (weights-only).
struct QuantState {
  CodeBatch codes;
  FloatBatch values;
};

// `batch` (one column per sample) through `step`, `chunk` columns at a time: only the batch at
// the next linear layer is kept whole, not the (often much larger) activations in between.
// Measured on Convnet_maxpool with --augment shift8 (45,000 images): the init's peak fell from
// 12.8 GB, the conv output of every image at once, to 1.47 GB (docs/benchmarks.md).
template <typename Batch, typename Step>
Batch Chunked(const Batch& batch, int64_t chunk, const Checkpoint& checkpoint, const Step& step) {
  const int64_t n = batch.cols();
  chunk = std::max<int64_t>(1, chunk);
  checkpoint();
  if (n <= chunk) return step(Batch(batch));
  Batch first = step(Batch(batch.leftCols(chunk)));
  Batch out(first.rows(), n);
  out.leftCols(chunk) = first;
  for (int64_t c = chunk; c < n; c += chunk) {
    checkpoint();
    const int64_t m = std::min(chunk, n - c);
    out.middleCols(c, m) = step(Batch(batch.middleCols(c, m)));
  }
  return out;
}

// The quantized network's state through layers [from, to).
void Advance(const QuantizedNetwork& qnet, size_t from, size_t to, int64_t chunk,
             const Checkpoint& checkpoint, QuantState& state) {
  if (from >= to) return;
  if (qnet.float_activations) {
    std::vector<Layer> layers;
    for (size_t i = from; i < to; ++i) layers.push_back(DequantizedLayer(qnet.layers[i]));
    state.values = Chunked(state.values, chunk, checkpoint, [&](FloatBatch x) {
      for (const Layer& l : layers) x = ForwardFloatLayer(l, x);
      return x;
    });
  } else {
    state.codes = Chunked(state.codes, chunk, checkpoint, [&](CodeBatch x) {
      for (size_t i = from; i < to; ++i) x = ForwardIntegerLayer(qnet.layers[i], x);
      return x;
    });
  }
}

void SetBias(QuantLayer& q, const Eigen::VectorXd& bias, bool float_activations) {
  q.bias_float.assign(bias.data(), bias.data() + bias.size());
  if (float_activations) return;  // weights-only: biases stay float
  for (int u = 0; u < q.Units(); ++u) {
    double code = RoundHalfEven(bias(u) / (q.WeightScale(u) * q.input.scale));
    q.bias_q[u] = static_cast<int64_t>(std::clamp(code, -2147483648.0, 2147483647.0));
  }
}

// Real weights of layer `q` as stored (units x fan_in), with the real bias as an extra column
// when `with_bias`: what the integer layer computes, in the units of its float counterpart.
Eigen::MatrixXd StoredWeights(const QuantLayer& q, bool float_activations, bool with_bias) {
  const int64_t fan_in = q.FanIn();
  Eigen::MatrixXd w(q.Units(), fan_in + (with_bias ? 1 : 0));
  for (int u = 0; u < q.Units(); ++u) {
    for (int64_t j = 0; j < fan_in; ++j) w(u, j) = q.weights_q[u * fan_in + j] * q.WeightScale(u);
    if (with_bias) {
      w(u, fan_in) = float_activations
                         ? static_cast<double>(q.bias_float[u])
                         : static_cast<double>(q.bias_q[u]) * q.WeightScale(u) * q.input.scale;
    }
  }
  return w;
}

// On the logits only the top-1 matters: an output is as good as the float one when the float
// top class comes out at least as high and every other class at least as low. [lo, hi] is that
// box around the float logits `targets` (units x samples).
void TopOneBox(const Eigen::MatrixXd& targets, Eigen::MatrixXd& lo, Eigen::MatrixXd& hi) {
  const double inf = std::numeric_limits<double>::infinity();
  lo.setConstant(targets.rows(), targets.cols(), -inf);
  hi = targets;
  for (int64_t s = 0; s < targets.cols(); ++s) {
    Eigen::Index top;
    targets.col(s).maxCoeff(&top);
    lo(top, s) = targets(top, s);
    hi(top, s) = inf;
  }
}

// A fused ReLU maps every output <= 0 to 0: where the float pre-activation is <= 0, any output
// <= 0 is as good as it; elsewhere the output must be the float one.
void ReluBox(const Eigen::MatrixXd& targets, Eigen::MatrixXd& lo, Eigen::MatrixXd& hi) {
  const double inf = std::numeric_limits<double>::infinity();
  lo = targets;
  hi = targets;
  for (int64_t s = 0; s < targets.cols(); ++s) {
    for (int64_t u = 0; u < targets.rows(); ++u) {
      if (targets(u, s) > 0) continue;
      lo(u, s) = -inf;
      hi(u, s) = 0;
    }
  }
}

// Solve/round rounds towards a box (top-1 on the logits, ReLU before a fused ReLU; the first is
// plain least squares). Measured on the logits when they were introduced, with
// bench/init_bench --extra on the seven cases: holdout agreement with float -0.01 points on
// average with calibration 0..4999 (per case -0.10..+0.08) and +0.07 with the halves swapped
// (0..+0.20); the repair-set agreement rises on 12 of the 14 runs.
constexpr int kBoxRounds = 3;

// Re-derives one layer. `x_float` is the float network's input to it (gptq-float only).
// gptq-float fits the logits layer to the top-1 box (TopOneBox) and a layer with a fused ReLU
// to the ReLU box (ReluBox): solve towards the goal, round, move the goal to the rounded outputs
// clamped into the box, kBoxRounds times. The ReLU box, measured with bench/init_bench
// --extra on the seven cases (mean holdout agreement with float): +0.16 points without
// augmentation (99.03 -> 99.19), +0.07 with the halves swapped, +0.03 / +0.02 with --augment
// shift8; single cases move by -0.22 .. +0.38; the init takes 2-3x as long.
// GPTQ is greedy and clamps to the grid, so a few rows can end worse than round to nearest
// (seen on late MNIST layers and on tiny random ones): each row keeps the best of RTN and the
// rounds, by its squared distance to the targets (to the box where there is one).
// Row u of `from`'s weights and biases into `to`.
void CopyRow(QuantLayer& to, const QuantLayer& from, int u) {
  const int64_t fan_in = from.FanIn();
  std::copy_n(from.weights_q.begin() + u * fan_in, fan_in, to.weights_q.begin() + u * fan_in);
  to.bias_float[u] = from.bias_float[u];
  if (!from.bias_q.empty()) to.bias_q[u] = from.bias_q[u];
}

// The "mse" scale search's grid (factors of the max-abs scale): 1.0, 0.9, ..., 0.2, then the
// best +-0.05.
constexpr int kCoarseFactors = 9;
constexpr double kCoarseStep = 0.1;
constexpr double kLowestFactor = 0.2;

// One layer's fitting problem on a set of input columns: what the layer should compute there
// (the targets, their box) and H's factorizations, which serve every solve/round round and every
// weight scale tried. Built in place (the ridge solver points at `x`).
struct FitProblem {
  Eigen::MatrixXd x;        // fan_in (+1 for the bias) x columns, real units
  Eigen::MatrixXd targets;  // units x columns
  Eigen::MatrixXd lo;       // the box, when `boxed`
  Eigen::MatrixXd hi;
  bool boxed = false;
  std::optional<gptq::Rounder> rounder;
  std::optional<gptq::RidgeSolver> ridge;  // gptq-float only
};

// Every `stride`-th column of `m`.
Eigen::MatrixXd EveryNthColumn(const Eigen::MatrixXd& m, int64_t stride) {
  Eigen::MatrixXd out(m.rows(), (m.cols() + stride - 1) / stride);
  for (int64_t c = 0; c < out.cols(); ++c) out.col(c) = m.col(c * stride);
  return out;
}

// The "mse" scale search fits the layer on at most this many of its columns (evenly strided),
// then once more on all of them at the scales it chose.
constexpr int64_t kSearchColumns = 5000;

void ReroundLayer(QuantLayer& q, const Layer& f, const QuantizedNetwork& qnet,
                  const QuantState& state, const FloatBatch* x_float, bool is_logits,
                  InitMethod method, const Checkpoint& checkpoint) {
  const int64_t fan_in = f.FanIn();
  const int units = f.Units();
  const bool float_act = qnet.float_activations;
  const int64_t samples = float_act ? state.values.cols() : state.codes.cols();
  const int64_t positions = f.output_shape.height * int64_t{f.output_shape.width};
  const ColumnPlan plan = PlanColumns(samples, positions);
  const bool with_bias = method == InitMethod::kGptqFloat;
  const Eigen::MatrixXd w =
      Eigen::Map<const RowMajorF>(f.weights.data(), units, fan_in).cast<double>();
  const Eigen::VectorXd b = Eigen::Map<const Eigen::VectorXf>(f.bias.data(), units).cast<double>();
  Eigen::MatrixXd prior;  // gptq-float's pull: the float [W b]
  if (with_bias) {
    prior.resize(units, fan_in + 1);
    prior << w, b;
  }
  const bool top_one = with_bias && is_logits && units > 1 && positions == 1 &&
                       q.activation == QActivation::kNone;
  const bool relu_box = with_bias && !top_one && q.activation == QActivation::kRelu;
  // Act-order for gptq-float only: measured on seven network/bit-width cases, it lifts
  // gptq-float's agreement with float by 0.2 points on average and plain GPTQ's inconsistently
  // (from +5 to -3 points per case).
  auto build = [&](FitProblem& p) {
    if (top_one) TopOneBox(p.targets, p.lo, p.hi);
    if (relu_box) ReluBox(p.targets, p.lo, p.hi);
    p.boxed = top_one || relu_box;
    const Eigen::MatrixXd h = gptq::DampedHessian(p.x, checkpoint);
    p.rounder.emplace(h, fan_in, with_bias, checkpoint);
    if (with_bias) p.ridge.emplace(p.x, h, prior, checkpoint);
  };
  FitProblem all;
  all.x = float_act ? InputMatrix(state.values, 1.0, f, plan, with_bias, checkpoint)
                    : InputMatrix(state.codes, q.input.scale, f, plan, with_bias, checkpoint);
  // What the layer should compute on x: W X, or W X_f + b.
  if (with_bias) {
    all.targets = Product(w, InputMatrix(*x_float, 1.0, f, plan, false, checkpoint), checkpoint);
    all.targets.colwise() += b;
  } else {
    all.targets = Product(w, all.x, checkpoint);
  }
  build(all);

  // Re-derives `c`'s weights and biases at its weight scales on problem `p`; returns each row's
  // squared distance to the targets (to the box where there is one).
  auto fit = [&](QuantLayer& c, const FitProblem& p) -> Eigen::VectorXd {
    auto outputs = [&](const QuantLayer& layer) {
      return Product(StoredWeights(layer, float_act, with_bias), p.x, checkpoint);
    };
    auto row_errors = [&](const Eigen::MatrixXd& y) -> Eigen::VectorXd {
      if (!p.boxed) return (y - p.targets).rowwise().squaredNorm();
      return (y - y.cwiseMax(p.lo).cwiseMin(p.hi)).rowwise().squaredNorm();
    };
    gptq::Grid grid;
    grid.code_min = c.WeightMin();
    grid.code_max = c.WeightMax();
    for (int u = 0; u < units; ++u) grid.row_scales.push_back(c.WeightScale(u));
    QuantLayer best = c;  // per row, the best round so far
    Eigen::VectorXd best_err =
        Eigen::VectorXd::Constant(units, std::numeric_limits<double>::infinity());
    Eigen::MatrixXd goal = p.targets;
    for (int round = 0; round < (p.boxed ? kBoxRounds : 1); ++round) {
      Eigen::MatrixXd wr = with_bias ? p.ridge->Solve(goal, checkpoint) : w;
      const Eigen::MatrixXi codes = p.rounder->Round(wr, grid, checkpoint);
      QuantLayer candidate = c;
      for (int u = 0; u < units; ++u) {
        for (int64_t j = 0; j < fan_in; ++j) candidate.weights_q[u * fan_in + j] = codes(u, j);
      }
      SetBias(candidate, with_bias ? Eigen::VectorXd(wr.col(fan_in)) : b, float_act);
      Eigen::MatrixXd y = outputs(candidate);
      const Eigen::VectorXd err = row_errors(y);
      for (int u = 0; u < units; ++u) {
        if (err(u) >= best_err(u)) continue;
        best_err(u) = err(u);
        CopyRow(best, candidate, u);
      }
      if (p.boxed) goal = y.cwiseMax(p.lo).cwiseMin(p.hi);
    }

    const Eigen::VectorXd err_rtn = row_errors(outputs(c));
    int64_t changed = 0;
    int kept_rtn = 0;
    for (int u = 0; u < units; ++u) {
      if (err_rtn(u) < best_err(u)) {
        ++kept_rtn;
        continue;
      }
      for (int64_t j = 0; j < fan_in; ++j) {
        changed += c.weights_q[u * fan_in + j] != best.weights_q[u * fan_in + j];
      }
      CopyRow(c, best, u);
    }
    spdlog::debug(
        "init {}: layer '{}' {}x{} on {} columns, weight scale {:.6g}: {} of {} weights changed "
        "from RTN, {} units kept RTN's row, squared error{} {:.4g} -> {:.4g}",
        InitMethodName(method), c.name, units, fan_in, p.x.cols(), c.weight_scales[0], changed,
        c.weights_q.size(), kept_rtn, top_one ? " (top-1 box)" : "", err_rtn.sum(),
        err_rtn.cwiseMin(best_err).sum());
    return err_rtn.cwiseMin(best_err);
  };

  if (qnet.config.ForLayer(q.name).scale_rule != ScaleRule::kMse) {
    fit(q, all);
    return;
  }
  // The "mse" rule: the weight scales (one per tensor, or one per row) with the smallest error,
  // among the max-abs scale times the factors of the grid.
  const FitProblem* search = &all;
  FitProblem strided;
  if (all.x.cols() > kSearchColumns) {
    const int64_t stride = (all.x.cols() + kSearchColumns - 1) / kSearchColumns;
    strided.x = EveryNthColumn(all.x, stride);
    strided.targets = EveryNthColumn(all.targets, stride);
    build(strided);
    search = &strided;
  }
  LayerQuantSpec max_abs = qnet.config.ForLayer(q.name);
  max_abs.scale_rule = ScaleRule::kMaxAbs;
  const std::vector<double> base = WeightScales(f, max_abs);
  const int n = static_cast<int>(base.size());  // 1 (per tensor) or units
  auto at_factors = [&](const std::vector<double>& factor) {
    QuantLayer c = q;
    for (int k = 0; k < n; ++k) c.weight_scales[k] = base[k] * factor[k];
    RoundWeights(c, f.weights, f.bias);
    if (float_act) c.bias_q.clear();
    return c;
  };
  Eigen::VectorXd best_err =
      Eigen::VectorXd::Constant(units, std::numeric_limits<double>::infinity());
  std::vector<double> best_factor(n, 1.0);
  auto try_factors = [&](const std::vector<double>& factor) {
    QuantLayer c = at_factors(factor);
    const Eigen::VectorXd err = fit(c, *search);
    if (n == 1) {
      if (err.sum() >= best_err.sum()) return;
      best_err = err;
      best_factor = factor;
      return;
    }
    for (int u = 0; u < units; ++u) {
      if (err(u) >= best_err(u)) continue;
      best_err(u) = err(u);
      best_factor[u] = factor[u];
    }
  };
  for (int k = 0; k < kCoarseFactors; ++k) {
    try_factors(std::vector<double>(n, 1.0 - kCoarseStep * k));
  }
  for (double side : {-0.5, 0.5}) {
    std::vector<double> factor = best_factor;
    for (double& v : factor) v = std::clamp(v + side * kCoarseStep, kLowestFactor, 1.0);
    try_factors(factor);
  }
  QuantLayer chosen = at_factors(best_factor);
  const Eigen::VectorXd err = fit(chosen, all);
  if (is_logits && q.activation == QActivation::kNone && !float_act) {
    // The logits' int32 code is at the smallest weight scale (as QuantizeNetwork sets it).
    chosen.output.scale =
        *std::min_element(chosen.weight_scales.begin(), chosen.weight_scales.end()) *
        chosen.input.scale;
  }
  if (!float_act) chosen.UpdateMultipliers();  // weights-only layers have none (QuantizeNetwork)
  q = std::move(chosen);
  const auto [lowest, highest] = std::minmax_element(best_factor.begin(), best_factor.end());
  spdlog::info(
      "init {}: layer '{}' weight scale {:.2f}..{:.2f} x max-abs (\"mse\"), squared error {:.4g}",
      InitMethodName(method), q.name, *lowest, *highest, err.sum());
}

}  // namespace

QuantizedNetwork InitializeWeights(const Network& float_net, const QuantizedNetwork& qnet,
                                   const FloatBatch& calibration, InitMethod method,
                                   const std::function<bool()>& should_stop, int64_t chunk_samples,
                                   InitSummary* summary) {
  QuantizedNetwork out = qnet;
  InitSummary local;
  InitSummary& sum = summary != nullptr ? *summary : local;
  sum = InitSummary();
  for (const QuantLayer& q : qnet.layers) sum.layers += q.IsLinear() ? 1 : 0;
  if (method == InitMethod::kRtn) {
    sum.rerounded = sum.layers;
    return out;
  }
  if (calibration.rows() != float_net.input_shape.Size() || calibration.cols() == 0) {
    throw InternalError("InitializeWeights: calibration batch has " +
                        std::to_string(calibration.rows()) + " rows and " +
                        std::to_string(calibration.cols()) + " samples, expected " +
                        std::to_string(float_net.input_shape.Size()) + " rows");
  }
  std::unordered_map<std::string, size_t> float_index;
  for (size_t i = 0; i < float_net.layers.size(); ++i) {
    if (float_net.layers[i].IsLinear()) float_index[float_net.layers[i].name] = i;
  }
  const Checkpoint checkpoint = [&should_stop] {
    if (should_stop && should_stop()) throw Stopped{};
  };

  QuantState state;
  size_t i = 0;  // the layer being worked on
  try {
    if (out.float_activations) {
      state.values = calibration;
      if (!out.input_offset.empty()) {  // the leading Normalize
        Layer norm;
        norm.kind = LayerKind::kNormalize;
        norm.input_shape = norm.output_shape = out.input_shape;
        norm.offset = out.input_offset;
        norm.divisor = out.input_divisor;
        state.values = ForwardFloatLayer(norm, state.values);
      }
    } else {
      state.codes = QuantizeInput(out, calibration);
    }
    FloatBatch x_float = calibration;  // the float network's activation before layer `float_pos`
    size_t float_pos = 0;

    // The state is carried from linear layer to linear layer (Advance), chunk by chunk.
    size_t advanced = 0;  // state holds the input of out.layers[advanced]
    for (i = 0; i < out.layers.size(); ++i) {
      QuantLayer& q = out.layers[i];
      if (!q.IsLinear()) continue;
      checkpoint();
      Advance(out, advanced, i, chunk_samples, checkpoint, state);
      advanced = i;
      auto it = float_index.find(q.name);
      const Layer* f = it == float_index.end() ? nullptr : &float_net.layers[it->second];
      if (f == nullptr || f->kind != q.kind || f->FanIn() != q.FanIn() || f->Units() != q.Units() ||
          f->input_shape != q.input_shape || f->output_shape != q.output_shape) {
        throw InternalError("InitializeWeights: quantized layer '" + q.name +
                            "' has no float layer of the same name, kind and shape");
      }
      if (q.FanIn() > kMaxFanIn) {
        spdlog::warn("init {}: layer '{}' has {} inputs per unit (more than {}); keeping RTN",
                     InitMethodName(method), q.name, q.FanIn(), kMaxFanIn);
      } else {
        if (method == InitMethod::kGptqFloat && float_pos < it->second) {
          x_float = Chunked(x_float, chunk_samples, checkpoint, [&](FloatBatch x) {
            for (size_t p = float_pos; p < it->second; ++p) {
              x = ForwardFloatLayer(float_net.layers[p], x);
            }
            return x;
          });
          float_pos = it->second;
        }
        const auto layer_begin = std::chrono::steady_clock::now();
        ReroundLayer(q, *f, out, state, &x_float, static_cast<int>(i) == out.LogitLayer(), method,
                     checkpoint);
        // One line per layer: on big layers the init takes minutes, and this is its progress.
        spdlog::info("init {}: layer '{}' ({} of {}, {}x{}) re-derived in {:.1f} s",
                     InitMethodName(method), q.name, sum.rerounded + 1, sum.layers, q.Units(),
                     q.FanIn(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - layer_begin)
                         .count());
      }
      ++sum.rerounded;
    }
  } catch (const Stopped&) {
    // ReroundLayer writes its layer only once it is finished: layer i is as it was in qnet.
    sum.complete = false;
    sum.stopped_at = i < out.layers.size() ? out.layers[i].name : "";
    spdlog::warn("init {}: stopped at layer '{}'; {} of {} linear layers re-derived, the others "
                 "keep their round-to-nearest weights",
                 InitMethodName(method), sum.stopped_at, sum.rerounded, sum.layers);
  }
  return out;
}

Augmentation ParseAugmentation(const std::string& text, const std::string& flag) {
  Augmentation a;
  if (text == "none" || text.empty()) return a;
  const size_t colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  if (kind == "shift") {
    a.shifts = 4;
  } else if (kind == "shift8") {
    a.shifts = 8;
  } else {
    throw Error(ExitCode::kUsage, flag + ": expected none, shift, shift8, shift:HxW or shift8:HxW, got '" + text + "'");
  }
  if (colon != std::string::npos) {
    const std::string size = text.substr(colon + 1);
    char x = 0;
    char rest = 0;
    if (std::sscanf(size.c_str(), "%d%c%d%c", &a.height, &x, &a.width, &rest) != 3 || x != 'x' ||
        a.height < 2 || a.width < 2 || a.height > 65536 || a.width > 65536) {
      throw Error(ExitCode::kUsage, flag + ": expected an image size HxW (each 2..65536) after ':', got '" + size + "'");
    }
  }
  return a;
}

std::string AugmentationName(const Augmentation& a) {
  if (a.shifts == 0) return "none";
  std::string name = a.shifts == 8 ? "shift8" : "shift";
  if (a.height > 0) name += ":" + std::to_string(a.height) + "x" + std::to_string(a.width);
  return name;
}

FloatBatch AugmentCalibration(const FloatBatch& calibration, const Augmentation& a,
                              const Shape& input, const std::string& flag) {
  if (a.shifts == 0) return calibration;
  const int64_t h = a.height > 0 ? a.height : input.height;
  const int64_t w = a.height > 0 ? a.width : input.width;
  const int64_t size = calibration.rows();
  if (h < 2 || w < 2 || size % (h * w) != 0) {
    throw Error(ExitCode::kUsage, flag + " " + AugmentationName(a) + ": the network input (" +
                                      input.ToString() + ", " + std::to_string(size) +
                                      " values) is not an image" +
                                      (a.height > 0 ? " of that size" : "; give its size, e.g. shift:28x28"));
  }
  const int64_t channels = size / (h * w);
  static const int kDy[8] = {0, 0, 1, -1, 1, 1, -1, -1};
  static const int kDx[8] = {1, -1, 0, 0, 1, -1, 1, -1};
  const int64_t n = calibration.cols();
  FloatBatch out(size, n * (1 + a.shifts));
  out.leftCols(n) = calibration;
  for (int64_t s = 0; s < n; ++s) {
    for (int d = 0; d < a.shifts; ++d) {
      auto dst = out.col(n * (1 + d) + s);
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t y = 0; y < h; ++y) {
          const int64_t sy = std::clamp<int64_t>(y - kDy[d], 0, h - 1);
          for (int64_t x = 0; x < w; ++x) {
            const int64_t sx = std::clamp<int64_t>(x - kDx[d], 0, w - 1);
            dst((c * h + y) * w + x) = calibration((c * h + sy) * w + sx, s);
          }
        }
      }
    }
  }
  return out;
}

}  // namespace qrepair
