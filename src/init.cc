// Layer-by-layer re-rounding of a quantized network's weights (RTN, GPTQ, GPTQ towards float).
#include "qrepair/init.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "gptq.h"
#include "qrepair/error.h"

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
                            bool append_ones) {
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
  for (int64_t k = 0; k < plan.count; ++k) {
    const int64_t g = k * plan.stride;
    const int64_t s = g / plan.positions;
    if (s != loaded) {
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

void Advance(const QuantizedNetwork& qnet, const QuantLayer& layer, QuantState& state) {
  if (qnet.float_activations) {
    state.values = ForwardFloatLayer(DequantizedLayer(layer), state.values);
  } else {
    state.codes = ForwardIntegerLayer(layer, state.codes);
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

// ---- experiment knobs (temporary) ----
struct Tuning {
  double damp = 0.01;
  bool act_order = false;
  int bias_refit = 0;    // gptq-float: 1 = exact LS bias given the rounded weights
  int gptq_bias = 0;     // gptq: 0 rhe(b), 1 b + mean(W X - Wq X), 2 mean(W X_f + b - Wq X)
  int relu = 0;          // 1: t<=0 -> (-inf,0]; 2: t<=0 -> (-inf,t]
  bool relu_top = false;  // t>=top -> [top,inf)
  int iters = 1;         // solve+round rounds when bounds are active
  int last = 0;          // 1: top [t,inf), others (-inf,t]; 2: others only; 3: others if far
  double last_margin = 0;
  bool fallback = true;
  double sample_alpha = 0;  // sample weight 1 + alpha exp(-margin / (tau * median margin))
  double sample_tau = 1;
  bool relu_gptq = false;   // apply bounds to gptq as well
  bool bias_undamped = false;
  bool prior = false;
  int cd = 0;               // coordinate descent sweeps after GPTQ
  int polish = 0;           // top-1 polish sweeps on the logits layer
  double polish_margin = 0.5;
  double polish_ls = 0.0;
};

double EnvD(const char* name, double def) {
  const char* v = std::getenv(name);
  return v ? std::atof(v) : def;
}

const Tuning& Tune() {
  static const Tuning t = [] {
    Tuning t;
    t.damp = EnvD("QR_DAMP", t.damp);
    t.act_order = EnvD("QR_ACTORDER", 0) != 0;
    t.bias_refit = static_cast<int>(EnvD("QR_BIASREFIT", 0));
    t.gptq_bias = static_cast<int>(EnvD("QR_GPTQBIAS", 0));
    t.relu = static_cast<int>(EnvD("QR_RELU", 0));
    t.relu_top = EnvD("QR_RELUTOP", 0) != 0;
    t.iters = static_cast<int>(EnvD("QR_ITERS", 1));
    t.last = static_cast<int>(EnvD("QR_LAST", 0));
    t.last_margin = EnvD("QR_LASTMARGIN", 0);
    t.fallback = EnvD("QR_FALLBACK", 1) != 0;
    t.sample_alpha = EnvD("QR_SAMPLEALPHA", 0);
    t.sample_tau = EnvD("QR_SAMPLETAU", 1);
    t.relu_gptq = EnvD("QR_RELUGPTQ", 0) != 0;
    t.polish = static_cast<int>(EnvD("QR_POLISH", 0));
    t.cd = static_cast<int>(EnvD("QR_CD", 0));
    t.bias_undamped = EnvD("QR_BIASUNDAMPED", 0) != 0;
    t.prior = EnvD("QR_PRIOR", 0) != 0;
    t.polish_margin = EnvD("QR_PMARGIN", 0.5);
    t.polish_ls = EnvD("QR_PLS", 0.0);
    return t;
  }();
  return t;
}

// Per-row squared distance of `y` to the box [lo, hi] (lo == hi: plain least squares).
Eigen::VectorXd RowErrors(const Eigen::MatrixXd& y, const Eigen::MatrixXd& lo,
                          const Eigen::MatrixXd& hi) {
  return (y - y.cwiseMax(lo).cwiseMin(hi)).rowwise().squaredNorm();
}

// What one layer sees besides its inputs.
struct LayerContext {
  const FloatBatch* x_float = nullptr;  // the float network's input to the layer
  const Eigen::VectorXd* sample_weights = nullptr;  // per calibration sample, or null
  bool is_logits = false;
  int linear_index = 0;
};

// Re-derives one layer.
void ReroundLayer(QuantLayer& q, const Layer& f, const QuantizedNetwork& qnet,
                  const QuantState& state, const LayerContext& ctx, InitMethod method) {
  const Tuning& tune = Tune();
  const int fine = static_cast<int>(EnvD("QR_FINE", 0));
  const bool fine_this = fine >= 10 && (fine - 10) == ctx.linear_index;
  if (fine_this || fine == 1 || (fine == 2 && ctx.is_logits) || (fine == 3 && !ctx.is_logits)) {
    q.weight_bits += 6;
    for (double& sc : q.weight_scales) sc /= 64;
    for (int32_t& w : q.weights_q) w *= 64;
    for (int64_t& b : q.bias_q) b *= 64;
    q.UpdateMultipliers();
  }
  const int64_t fan_in = f.FanIn();
  const int units = f.Units();
  const bool float_act = qnet.float_activations;
  const int64_t samples = float_act ? state.values.cols() : state.codes.cols();
  const int64_t positions = f.output_shape.height * int64_t{f.output_shape.width};
  const ColumnPlan plan = PlanColumns(samples, positions);
  const bool with_bias = method == InitMethod::kGptqFloat;
  Eigen::MatrixXd x = float_act ? InputMatrix(state.values, 1.0, f, plan, with_bias)
                                : InputMatrix(state.codes, q.input.scale, f, plan, with_bias);
  Eigen::MatrixXd w = Eigen::Map<const RowMajorF>(f.weights.data(), units, fan_in).cast<double>();
  Eigen::VectorXd b = Eigen::Map<const Eigen::VectorXf>(f.bias.data(), units).cast<double>();
  Eigen::MatrixXd targets;  // what the layer should compute on x: W X, or W X_f + b
  Eigen::MatrixXd x_f;
  if (ctx.x_float != nullptr) x_f = InputMatrix(*ctx.x_float, 1.0, f, plan, false);
  if (with_bias) {
    targets = w * x_f;
    targets.colwise() += b;
  } else {
    targets = w * x;
  }
  // The set of outputs as good as the target, per entry, in the units of `targets`.
  Eigen::MatrixXd lo = targets;
  Eigen::MatrixXd hi = targets;
  const double inf = std::numeric_limits<double>::infinity();
  bool bounded = false;
  if (with_bias || tune.relu_gptq) {
    const Eigen::VectorXd shift = with_bias ? Eigen::VectorXd::Zero(units) : b;  // to W x + b
    const int64_t n = targets.cols();
    if (!ctx.is_logits && q.activation == QActivation::kRelu && !float_act && tune.relu != 0) {
      bounded = true;
      const double top = q.output.scale * static_cast<double>(q.output.Max());
      for (int64_t k = 0; k < n; ++k) {
        for (int64_t r = 0; r < targets.rows(); ++r) {
          const int u = static_cast<int>(r / 1);  // dense; conv rows are units too
          const double t = targets(r, k) + shift(u);
          if (t <= 0) {
            lo(r, k) = -inf;
            hi(r, k) = (tune.relu == 1 ? 0.0 : t) - shift(u);
          } else if (tune.relu_top && t >= top) {
            lo(r, k) = top - shift(u);
            hi(r, k) = inf;
          }
        }
      }
    }
    if (ctx.is_logits && std::getenv("QR_DEBUGLOGITS")) {
      std::vector<double> m, r;
      for (int64_t k = 0; k < n; ++k) {
        Eigen::VectorXd c = targets.col(k) + shift;
        std::sort(c.data(), c.data() + c.size());
        m.push_back(c(units - 1) - c(units - 2));
        r.push_back(c(units - 1) - c(0));
      }
      std::sort(m.begin(), m.end());
      std::sort(r.begin(), r.end());
      spdlog::info("margin q10 {} q50 {} q90 {}; range q50 {}", m[n / 10], m[n / 2], m[9 * n / 10],
                   r[n / 2]);
    }
    if (ctx.is_logits && tune.last != 0 && positions == 1) {
      bounded = true;
      for (int64_t k = 0; k < n; ++k) {
        Eigen::Index top_class;
        (targets.col(k) + shift).maxCoeff(&top_class);
        const double t_top = targets(top_class, k) + shift(top_class);
        for (int c = 0; c < units; ++c) {
          if (c == top_class) {
            if (tune.last == 1) hi(c, k) = inf;
          } else if (tune.last != 3 || targets(c, k) + shift(c) < t_top - tune.last_margin) {
            lo(c, k) = -inf;
          }
        }
      }
    }
  }
  if (ctx.sample_weights != nullptr) {
    Eigen::VectorXd sw(plan.count);
    for (int64_t k = 0; k < plan.count; ++k) {
      sw(k) = std::sqrt((*ctx.sample_weights)((k * plan.stride) / plan.positions));
    }
    x = x * sw.asDiagonal();
    targets = targets * sw.asDiagonal();
    lo = lo * sw.asDiagonal();
    hi = hi * sw.asDiagonal();
    if (x_f.size() > 0) x_f = x_f * sw.asDiagonal();
  }
  const Eigen::MatrixXd h =
      gptq::DampedHessian(x, tune.damp, with_bias && tune.bias_undamped ? 1 : 0);
  gptq::Grid grid;
  grid.code_min = q.WeightMin();
  grid.code_max = q.WeightMax();
  for (int u = 0; u < units; ++u) grid.row_scales.push_back(q.WeightScale(u));

  QuantLayer best = q;  // per row, the best candidate so far; RTN first
  Eigen::VectorXd best_err = RowErrors(StoredWeights(q, float_act, with_bias) * x, lo, hi);
  const Eigen::VectorXd err_rtn = best_err;
  if (!tune.fallback) best_err.setConstant(inf);
  Eigen::MatrixXd goal = targets;
  const int rounds = bounded ? std::max(tune.iters, 1) : 1;
  int64_t changed = 0;
  int kept_rtn = units;
  for (int round = 0; round < rounds; ++round) {
    Eigen::MatrixXd wr = w;
    if (with_bias) {
      if (tune.prior) {
        Eigen::MatrixXd prior(units, fan_in + 1);
        prior << w, b;
        Eigen::VectorXd weight = h.diagonal() - x.rowwise().squaredNorm();
        wr = gptq::SolveTowardsTargets(goal, x, h, &prior, &weight);
      } else {
        wr = gptq::SolveTowardsTargets(goal, x, h);
      }
    }
    if (round == 0) spdlog::debug("unrounded error {:.4g}", RowErrors(wr * x, lo, hi).sum());
    const Eigen::MatrixXd w_star = wr;
    Eigen::MatrixXi codes = gptq::RoundColumns(wr, h, grid, fan_in, tune.act_order);
    if (tune.cd > 0) {
      const double before = RowErrors(wr * x, lo, hi).sum();
      wr = gptq::RefineColumns(codes, w_star, h, grid, tune.cd);
      spdlog::debug("cd: {:.4g} -> {:.4g}", before, RowErrors(wr * x, lo, hi).sum());
    }
    QuantLayer candidate = q;
    for (int u = 0; u < units; ++u) {
      for (int64_t j = 0; j < fan_in; ++j) candidate.weights_q[u * fan_in + j] = codes(u, j);
    }
    Eigen::VectorXd bias = b;
    if (with_bias) {
      bias = wr.col(fan_in);
      if (tune.bias_refit == 1) {
        const Eigen::MatrixXd r = goal - StoredWeights(candidate, float_act, false) * x.topRows(fan_in);
        bias = r * x.row(fan_in).transpose() / x.row(fan_in).squaredNorm();
      }
    } else if (tune.gptq_bias == 1) {
      const Eigen::MatrixXd r = targets - StoredWeights(candidate, float_act, false) * x;
      bias = b + r.rowwise().sum() / static_cast<double>(r.cols());
    } else if (tune.gptq_bias == 2) {
      Eigen::MatrixXd r = w * x_f - StoredWeights(candidate, float_act, false) * x;
      bias = b + r.rowwise().sum() / static_cast<double>(r.cols());
    }
    SetBias(candidate, bias, float_act);
    const Eigen::MatrixXd y = StoredWeights(candidate, float_act, with_bias) * x;
    const Eigen::VectorXd err = RowErrors(y, lo, hi);
    for (int u = 0; u < units; ++u) {
      if (err(u) >= best_err(u)) continue;
      best_err(u) = err(u);
      for (int64_t j = 0; j < fan_in; ++j) {
        best.weights_q[u * fan_in + j] = candidate.weights_q[u * fan_in + j];
      }
      best.bias_float[u] = candidate.bias_float[u];
      if (!float_act) best.bias_q[u] = candidate.bias_q[u];
    }
    if (bounded) goal = y.cwiseMax(lo).cwiseMin(hi);
  }
  if (ctx.is_logits && with_bias && tune.polish > 0 && positions == 1 &&
      ctx.sample_weights == nullptr) {
    gptq::TopOneProblem problem;
    problem.x = x.topRows(fan_in);
    problem.targets = targets;
    problem.row_scales = grid.row_scales;
    problem.code_min = grid.code_min;
    problem.code_max = grid.code_max;
    problem.margin_fraction = tune.polish_margin;
    problem.ls_weight = tune.polish_ls;
    problem.max_sweeps = tune.polish;
    const Eigen::MatrixXd stored = StoredWeights(best, float_act, true);
    Eigen::MatrixXi codes = Eigen::Map<const Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic,
                                                           Eigen::RowMajor>>(
        best.weights_q.data(), units, fan_in);
    const int64_t moves = gptq::PolishTopOne(codes, stored.col(fan_in), problem);
    for (int u = 0; u < units; ++u) {
      for (int64_t j = 0; j < fan_in; ++j) best.weights_q[u * fan_in + j] = codes(u, j);
    }
    spdlog::debug("init: top-1 polish of '{}': {} moves", q.name, moves);
  }
  for (int u = 0; u < units; ++u) {
    bool same = true;
    for (int64_t j = 0; j < fan_in; ++j) {
      const bool diff = best.weights_q[u * fan_in + j] != q.weights_q[u * fan_in + j];
      changed += diff;
      same = same && !diff;
    }
    if (!same) --kept_rtn;
  }
  q = best;
  spdlog::debug(
      "init {}: layer '{}' {}x{} on {} columns: {} of {} weights changed from RTN, "
      "{} units kept RTN's row, squared error {:.4g} -> {:.4g} (targets {:.4g})",
      InitMethodName(method), q.name, units, fan_in, plan.count, changed, q.weights_q.size(),
      kept_rtn, err_rtn.sum(), best_err.sum(), targets.squaredNorm());
}

}  // namespace

QuantizedNetwork InitializeWeights(const Network& float_net, const QuantizedNetwork& qnet,
                                   const FloatBatch& calibration, InitMethod method) {
  QuantizedNetwork out = qnet;
  if (method == InitMethod::kRtn) return out;
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

  QuantState state;
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
  const Tuning& tune = Tune();
  const bool need_float =
      method == InitMethod::kGptqFloat || tune.gptq_bias == 2;
  Eigen::VectorXd sample_weights;
  if (tune.sample_alpha > 0) {
    const FloatBatch logits = ForwardFloat(float_net, calibration);
    Eigen::VectorXd margin(logits.cols());
    for (int64_t s = 0; s < logits.cols(); ++s) {
      Eigen::VectorXf col = logits.col(s);
      Eigen::Index top;
      const float m1 = col.maxCoeff(&top);
      col(top) = -std::numeric_limits<float>::infinity();
      margin(s) = m1 - col.maxCoeff();
    }
    std::vector<double> sorted(margin.data(), margin.data() + margin.size());
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    const double tau = tune.sample_tau * sorted[sorted.size() / 2];
    sample_weights = (1.0 + tune.sample_alpha * (-margin.array() / tau).exp()).matrix();
  }
  const int logit_layer = out.LogitLayer();
  int linear_count = 0;

  for (size_t li = 0; li < out.layers.size(); ++li) {
    QuantLayer& q = out.layers[li];
    if (q.IsLinear()) {
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
        if (need_float) {
          for (; float_pos < it->second; ++float_pos) {
            x_float = ForwardFloatLayer(float_net.layers[float_pos], x_float);
          }
        }
        LayerContext ctx;
        ctx.x_float = need_float ? &x_float : nullptr;
        ctx.sample_weights = sample_weights.size() > 0 ? &sample_weights : nullptr;
        ctx.is_logits = static_cast<int>(li) == logit_layer;
        ctx.linear_index = linear_count++;
        ReroundLayer(q, *f, out, state, ctx, method);
      }
    }
    Advance(out, q, state);
  }
  return out;
}

}  // namespace qrepair
