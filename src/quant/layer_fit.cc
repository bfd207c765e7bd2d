// One linear layer of the gptq / gptq-float inits re-derived towards its targets, and the
// "mse" scale rule's search of its weight scales.
#include "quant/layer_fit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include "qrepair/quant/quantize.h"
#include "quant/im2col.h"

namespace qrepair {

namespace {

constexpr int64_t kMaxColumns = 200000;  // (sample, position) columns of X per layer

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using gptq::Checkpoint;

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
                            bool append_ones, const Checkpoint& checkpoint,
                            double zero_point = 0.0) {
  const int64_t fan_in = layer.FanIn();
  Eigen::MatrixXd x(fan_in + (append_ones ? 1 : 0), plan.count);
  if (append_ones) x.row(fan_in).setOnes();
  if (layer.kind == LayerKind::kDense) {
    for (int64_t k = 0; k < plan.count; ++k) {
      x.col(k).head(fan_in) =
          (batch.col(k * plan.stride).template cast<double>().array() - zero_point) * scale;
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
      sample = (batch.col(s).template cast<double>().array() - zero_point) * scale;
      Im2ColT<double>(sample.data(), layer.input_shape, layer.window, layer.output_shape, cols);
      loaded = s;
    }
    x.col(k).head(fan_in) = cols.col(g % plan.positions);
  }
  return x;
}

void SetBias(QuantLayer& q, const Eigen::VectorXd& bias, bool float_activations) {
  q.bias_float.assign(bias.data(), bias.data() + bias.size());
  if (float_activations) return;  // weights-only: biases stay float
  for (int u = 0; u < q.Units(); ++u)
    q.bias_q[u] = BiasCode(bias(u), q.WeightScale(u), q.input.scale);
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

// The "mse" scale search fits the layer on at most this many of its columns (evenly strided),
// then once more on all of them at the scales it chose.
constexpr int64_t kSearchColumns = 5000;

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

// `q` with weight scales base[k] * factor[k], its weights and biases rounded to nearest there.
QuantLayer AtScales(const QuantLayer& q, const Layer& f, const std::vector<double>& base,
                    const std::vector<double>& factor, bool float_act) {
  QuantLayer c = q;
  for (size_t k = 0; k < base.size(); ++k) c.weight_scales[k] = base[k] * factor[k];
  if (!float_act) RaiseScalesForBias(c.weight_scales, f, q.input.scale);
  RoundWeights(c, f.weights, f.bias);
  if (float_act) c.bias_q.clear();
  return c;
}

// ReroundLayer's work on one layer: the float layer's weights, what the targets are, and the
// fits at given weight scales.
class LayerFit {
 public:
  LayerFit(const Layer& f, const QuantLayer& q, bool float_activations, bool is_logits,
           InitMethod method, const Checkpoint& checkpoint)
      : f_(f),
        fan_in_(f.FanIn()),
        units_(f.Units()),
        float_act_(float_activations),
        with_bias_(method == InitMethod::kGptqFloat),
        method_(method),
        checkpoint_(checkpoint),
        w_(Eigen::Map<const RowMajorF>(f.weights.data(), units_, fan_in_).cast<double>()),
        b_(Eigen::Map<const Eigen::VectorXf>(f.bias.data(), units_).cast<double>()) {
    const int64_t positions = f.output_shape.height * int64_t{f.output_shape.width};
    top_one_ = with_bias_ && is_logits && units_ > 1 && positions == 1 &&
               q.activation == QActivation::kNone;
    relu_box_ = with_bias_ && !top_one_ && q.activation == QActivation::kRelu;
    if (with_bias_) {  // gptq-float's pull: the float [W b]
      prior_.resize(units_, fan_in_ + 1);
      prior_ << w_, b_;
    }
  }

  // The problem on the columns `plan` picks: X (real units; a row of ones for gptq-float) and
  // what the layer should compute on it, W X or W X_f + b.
  void Load(FitProblem& p, const QuantState& state, const ActivationCode& input,
            const FloatBatch* x_float, const ColumnPlan& plan) const {
    p.x = float_act_ ? InputMatrix(state.values, 1.0, f_, plan, with_bias_, checkpoint_)
                     : InputMatrix(state.codes, input.scale, f_, plan, with_bias_, checkpoint_,
                                   static_cast<double>(input.zero_point));
    if (with_bias_) {
      p.targets =
          Product(w_, InputMatrix(*x_float, 1.0, f_, plan, false, checkpoint_), checkpoint_);
      p.targets.colwise() += b_;
    } else {
      p.targets = Product(w_, p.x, checkpoint_);
    }
    Build(p);
  }

  // Every `stride`-th column of `all`, as a problem of its own.
  void Subsample(FitProblem& p, const FitProblem& all, int64_t stride) const {
    p.x = EveryNthColumn(all.x, stride);
    p.targets = EveryNthColumn(all.targets, stride);
    Build(p);
  }

  // Re-derives `c`'s weights and biases at its weight scales on problem `p`; returns each row's
  // squared distance to the targets (to the box where there is one).
  Eigen::VectorXd Fit(QuantLayer& c, const FitProblem& p) const {
    gptq::Grid grid;
    grid.code_min = c.WeightMin();
    grid.code_max = c.WeightMax();
    for (int u = 0; u < units_; ++u) grid.row_scales.push_back(c.WeightScale(u));
    QuantLayer best = c;  // per row, the best round so far
    Eigen::VectorXd best_err =
        Eigen::VectorXd::Constant(units_, std::numeric_limits<double>::infinity());
    Eigen::MatrixXd goal = p.targets;
    for (int round = 0; round < (p.boxed ? kBoxRounds : 1); ++round) {
      Eigen::MatrixXd wr = with_bias_ ? p.ridge->Solve(goal, checkpoint_) : w_;
      const Eigen::MatrixXi codes = p.rounder->Round(wr, grid, checkpoint_);
      QuantLayer candidate = c;
      for (int u = 0; u < units_; ++u) {
        for (int64_t j = 0; j < fan_in_; ++j) candidate.weights_q[u * fan_in_ + j] = codes(u, j);
      }
      SetBias(candidate, with_bias_ ? Eigen::VectorXd(wr.col(fan_in_)) : b_, float_act_);
      Eigen::MatrixXd y = Outputs(candidate, p);
      const Eigen::VectorXd err = RowErrors(y, p);
      for (int u = 0; u < units_; ++u) {
        if (err(u) >= best_err(u)) continue;
        best_err(u) = err(u);
        CopyRow(best, candidate, u);
      }
      if (p.boxed) goal = y.cwiseMax(p.lo).cwiseMin(p.hi);
    }

    const Eigen::VectorXd err_rtn = RowErrors(Outputs(c, p), p);
    int64_t changed = 0;
    int kept_rtn = 0;
    for (int u = 0; u < units_; ++u) {
      if (err_rtn(u) < best_err(u)) {
        ++kept_rtn;
        continue;
      }
      for (int64_t j = 0; j < fan_in_; ++j) {
        changed += c.weights_q[u * fan_in_ + j] != best.weights_q[u * fan_in_ + j];
      }
      CopyRow(c, best, u);
    }
    spdlog::debug(
        "init {}: layer '{}' {}x{} on {} columns, weight scale {:.6g}: {} of {} weights changed "
        "from RTN, {} units kept RTN's row, squared error{} {:.4g} -> {:.4g}",
        InitMethodName(method_), c.name, units_, fan_in_, p.x.cols(), c.weight_scales[0], changed,
        c.weights_q.size(), kept_rtn, top_one_ ? " (top-1 box)" : "", err_rtn.sum(),
        err_rtn.cwiseMin(best_err).sum());
    return err_rtn.cwiseMin(best_err);
  }

  // The largest |output| the float layer gives on `p`'s columns (its targets, with the bias).
  double OutputAbsMax(const FitProblem& p) const {
    if (p.targets.size() == 0) return 0.0;
    if (with_bias_) return p.targets.cwiseAbs().maxCoeff();
    return (p.targets.colwise() + b_).cwiseAbs().maxCoeff();
  }

 private:
  void Build(FitProblem& p) const {
    if (top_one_) TopOneBox(p.targets, p.lo, p.hi);
    if (relu_box_) ReluBox(p.targets, p.lo, p.hi);
    p.boxed = top_one_ || relu_box_;
    const Eigen::MatrixXd h = gptq::DampedHessian(p.x, checkpoint_);
    // Act-order for gptq-float only: measured on seven network/bit-width cases, it lifts
    // gptq-float's agreement with float by 0.2 points on average and plain GPTQ's
    // inconsistently (from +5 to -3 points per case).
    p.rounder.emplace(h, fan_in_, with_bias_, checkpoint_);
    if (with_bias_) p.ridge.emplace(p.x, h, prior_, checkpoint_);
  }

  Eigen::MatrixXd Outputs(const QuantLayer& layer, const FitProblem& p) const {
    return Product(StoredWeights(layer, float_act_, with_bias_), p.x, checkpoint_);
  }

  static Eigen::VectorXd RowErrors(const Eigen::MatrixXd& y, const FitProblem& p) {
    if (!p.boxed) return (y - p.targets).rowwise().squaredNorm();
    return (y - y.cwiseMax(p.lo).cwiseMin(p.hi)).rowwise().squaredNorm();
  }

  const Layer& f_;
  const int64_t fan_in_;
  const int units_;
  const bool float_act_;
  const bool with_bias_;
  const InitMethod method_;
  const Checkpoint& checkpoint_;
  const Eigen::MatrixXd w_;
  const Eigen::VectorXd b_;
  Eigen::MatrixXd prior_;
  bool top_one_ = false;
  bool relu_box_ = false;
};

// The "mse" rule: the weight scales (one per tensor, or one per row) whose fit on `search` has
// the smallest error, among the max-abs scale times the factors of the grid; returns the
// factors.
std::vector<double> SearchScaleFactors(const LayerFit& fit, const FitProblem& search,
                                       const QuantLayer& q, const Layer& f,
                                       const std::vector<double>& base, bool float_act) {
  const int n = static_cast<int>(base.size());  // 1 (per tensor) or units
  const int units = q.Units();
  Eigen::VectorXd best_err =
      Eigen::VectorXd::Constant(units, std::numeric_limits<double>::infinity());
  std::vector<double> best_factor(n, 1.0);
  auto try_factors = [&](const std::vector<double>& factor) {
    QuantLayer c = AtScales(q, f, base, factor, float_act);
    const Eigen::VectorXd err = fit.Fit(c, search);
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
  return best_factor;
}

}  // namespace

void ReroundLayer(QuantLayer& q, const Layer& f, const QuantizedNetwork& qnet,
                  const QuantState& state, const FloatBatch* x_float, bool is_logits,
                  InitMethod method, const Checkpoint& checkpoint) {
  const bool float_act = qnet.float_activations;
  const int64_t samples = float_act ? state.values.cols() : state.codes.cols();
  const int64_t positions = f.output_shape.height * int64_t{f.output_shape.width};
  const LayerFit fit(f, q, float_act, is_logits, method, checkpoint);
  FitProblem all;
  fit.Load(all, state, q.input, x_float, PlanColumns(samples, positions));
  if (q.scale_rule != ScaleRule::kMse) {
    fit.Fit(q, all);
    return;
  }
  const FitProblem* search = &all;
  FitProblem strided;
  if (all.x.cols() > kSearchColumns) {
    fit.Subsample(strided, all, (all.x.cols() + kSearchColumns - 1) / kSearchColumns);
    search = &strided;
  }
  LayerQuantSpec max_abs;
  max_abs.weight_bits = q.weight_bits;
  max_abs.granularity = q.granularity;
  max_abs.scale_rule = ScaleRule::kMaxAbs;
  const std::vector<double> base = WeightScales(f, max_abs);
  const std::vector<double> factor = SearchScaleFactors(fit, *search, q, f, base, float_act);
  QuantLayer chosen = AtScales(q, f, base, factor, float_act);
  const Eigen::VectorXd err = fit.Fit(chosen, all);
  // int32 logits sit at the smallest weight scale, which the fit moved; requantized logits keep
  // their calibrated code.
  if (is_logits && q.activation == QActivation::kNone && !float_act && q.output.bits == 32) {
    chosen.output = LogitCode(chosen, fit.OutputAbsMax(all));  // at the new smallest weight scale
  }
  if (!float_act) chosen.UpdateMultipliers();  // weights-only layers have none (QuantizeNetwork)
  q = std::move(chosen);
  const auto [lowest, highest] = std::minmax_element(factor.begin(), factor.end());
  spdlog::info(
      "init {}: layer '{}' weight scale {:.2f}..{:.2f} x max-abs (\"mse\"), squared error {:.4g}",
      InitMethodName(method), q.name, *lowest, *highest, err.sum());
}

}  // namespace qrepair
