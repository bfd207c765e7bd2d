// Back-substitution over integer codes (maths in symbolic_bounds.h).
#include "verify/symbolic_bounds.h"

#include <cmath>
#include <limits>

#include "qrepair/error.h"

namespace qrepair {

namespace {

constexpr double kUnit = 1.1102230246251565e-16;  // u = 2^-53
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

Eigen::VectorXd BoxMagnitude(const CodeBox& box) {
  return box.lo.cwiseAbs().cwiseMax(box.hi.cwiseAbs());
}

double DotProductErrorFactor(int64_t n) { return 2.0 * static_cast<double>(n + 8) * kUnit; }

namespace {

// One bound (lower or upper) of the objectives on its way to the input codes.
struct Side {
  bool upper = false;
  RowMatrix a;
  Eigen::VectorXd c, err;

  // Through layer j: x_r >= s^lo_r acc_r + o^lo_r and x_r <= s^hi_r acc_r + o^hi_r; a lower bound
  // takes the lower line where a_r >= 0 and the upper one where a_r < 0 (an upper bound the
  // other way round).
  void Step(const CodeLayer& layer, const Eigen::VectorXd& s_lo, const Eigen::VectorXd& s_hi,
            const Eigen::VectorXd& o_lo, const Eigen::VectorXd& o_hi, const Eigen::VectorXd& mag) {
    const RowMatrix a_pos = a.cwiseMax(0.0), a_neg = a.cwiseMin(0.0);
    const Eigen::VectorXd& o_pos = upper ? o_hi : o_lo;
    const Eigen::VectorXd& o_neg = upper ? o_lo : o_hi;
    const Eigen::VectorXd t = a_pos * o_pos + a_neg * o_neg;
    const double gamma = DotProductErrorFactor(layer.outputs + layer.inputs);
    err += gamma * (a_pos * o_pos.cwiseAbs() - a_neg * o_neg.cwiseAbs());
    const RowMatrix g = a_pos * (upper ? s_hi : s_lo).asDiagonal() +
                        a_neg * (upper ? s_lo : s_hi).asDiagonal();  // exact: one product each
    const RowMatrix g_abs = g.cwiseAbs();
    const Eigen::VectorXd t_b = g * layer.bias;
    err += gamma * (g_abs * layer.bias.cwiseAbs());
    a.noalias() = g * layer.weights;
    // The computed a' against the exact one, times the magnitude of the inputs of layer j.
    err += gamma * (g_abs * (layer.weights_abs * mag));
    // The accumulation of the constants: two additions.
    err += 4 * kUnit * (c.cwiseAbs() + t.cwiseAbs() + t_b.cwiseAbs() + err);
    c += t + t_b;
  }

  // The bound on the input box, rounded outward.
  Eigen::VectorXd Concretize(const CodeBox& input) {
    const RowMatrix a_pos = a.cwiseMax(0.0), a_neg = a.cwiseMin(0.0);
    const Eigen::VectorXd m = upper ? Eigen::VectorXd(a_pos * input.hi + a_neg * input.lo)
                                    : Eigen::VectorXd(a_pos * input.lo + a_neg * input.hi);
    err += DotProductErrorFactor(a.cols()) * (a.cwiseAbs() * BoxMagnitude(input));
    err += 4 * kUnit * (c.cwiseAbs() + m.cwiseAbs() + err);
    Eigen::VectorXd out(a.rows());
    for (Eigen::Index r = 0; r < a.rows(); ++r) {
      out[r] = upper ? std::nextafter(c[r] + m[r] + err[r], kInf)
                     : std::nextafter(c[r] + m[r] - err[r], -kInf);
    }
    return out;
  }
};

}  // namespace

void BackSubstitute(const CodeNetwork& net, const std::vector<LayerBounds>& bounds,
                    const CodeBox& input, int k, RowMatrix a, Eigen::VectorXd c,
                    Eigen::VectorXd& lo, Eigen::VectorXd& hi, RowMatrix* input_coefficients,
                    uint64_t& work) {
  const Eigen::Index rows = a.rows();
  Side lower{false, a, c, Eigen::VectorXd::Zero(rows)};
  Side upper{true, std::move(a), std::move(c), Eigen::VectorXd::Zero(rows)};
  Eigen::VectorXd s_lo, s_hi, o_lo, o_hi;
  for (int j = k - 1; j >= 0; --j) {
    const CodeLayer& layer = net.layers[j];
    const LayerBounds& b = bounds[j];
    const int n = layer.outputs;
    s_lo.resize(n);
    s_hi.resize(n);
    o_lo.resize(n);
    o_hi.resize(n);
    for (int r = 0; r < n; ++r) {
      s_lo[r] = b.relax[r].slope_lo;
      s_hi[r] = b.relax[r].slope_hi;
      o_lo[r] = b.relax[r].offset_lo;
      o_hi[r] = b.relax[r].offset_hi;
    }
    const Eigen::VectorXd mag = j == 0 ? BoxMagnitude(input) : BoxMagnitude(bounds[j - 1].codes);
    lower.Step(layer, s_lo, s_hi, o_lo, o_hi, mag);
    upper.Step(layer, s_lo, s_hi, o_lo, o_hi, mag);
    work += 2 * static_cast<uint64_t>(rows) * n * (4 + 2 * static_cast<uint64_t>(layer.inputs));
  }
  lo = lower.Concretize(input);
  hi = upper.Concretize(input);
  work += 2 * static_cast<uint64_t>(rows) * lower.a.cols() * 3;
  if (input_coefficients != nullptr) *input_coefficients = std::move(lower.a);
}

void BackSubstituteRows(const CodeNetwork& net, const std::vector<LayerBounds>& bounds,
                        const CodeBox& input, int k, const std::vector<int>& rows,
                        Eigen::VectorXd& lo, Eigen::VectorXd& hi, uint64_t& work) {
  const CodeLayer& layer = net.layers[k];
  RowMatrix a(rows.size(), layer.inputs);
  Eigen::VectorXd c(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    a.row(static_cast<Eigen::Index>(i)) = layer.weights.row(rows[i]);
    c[static_cast<Eigen::Index>(i)] = layer.bias[rows[i]];
  }
  BackSubstitute(net, bounds, input, k, std::move(a), std::move(c), lo, hi, nullptr, work);
}

void PropagateBounds(const CodeNetwork& net, const CodeBox& input, const BoundOptions& options,
                     std::vector<LayerBounds>& bounds, uint64_t& work) {
  bounds.resize(net.layers.size());
  for (size_t k = 0; k < net.layers.size(); ++k) {
    const CodeLayer& layer = net.layers[k];
    LayerBounds& b = bounds[k];
    IntervalAccumulators(layer, k == 0 ? input : bounds[k - 1].codes, b.acc_lo, b.acc_hi);
    work += static_cast<uint64_t>(layer.outputs) * layer.inputs * 2;
    if (options.symbolic && k > 0) {
      // Only rows whose code is not fixed by the intervals gain from tighter bounds.
      std::vector<int> rows;
      for (int r = 0; r < layer.outputs; ++r) {
        if (layer.Apply(r, static_cast<int64_t>(b.acc_lo[r])) !=
            layer.Apply(r, static_cast<int64_t>(b.acc_hi[r])))
          rows.push_back(r);
      }
      if (!rows.empty()) {
        Eigen::VectorXd lo, hi;
        BackSubstituteRows(net, bounds, input, static_cast<int>(k), rows, lo, hi, work);
        for (size_t i = 0; i < rows.size(); ++i) {
          const int r = rows[i];
          const double s_lo = std::ceil(lo[static_cast<Eigen::Index>(i)]);
          const double s_hi = std::floor(hi[static_cast<Eigen::Index>(i)]);
          if (s_lo > b.acc_lo[r]) b.acc_lo[r] = s_lo;
          if (s_hi < b.acc_hi[r]) b.acc_hi[r] = s_hi;
          // Sound bounds always meet; only the mutation test (an unsound variant) may see
          // them cross, and then it must reach a verdict for the oracle to judge.
          if (b.acc_lo[r] > b.acc_hi[r] && options.mutation != BoundMutation::kNone) {
            b.acc_lo[r] = b.acc_hi[r];
          } else if (b.acc_lo[r] > b.acc_hi[r]) {
            throw InternalError("verifier: symbolic and interval bounds of layer '" + layer.name +
                                "' row " + std::to_string(r) + " do not meet");
          }
        }
      }
    }
    RelaxLayer(layer, b, options.mutation);
  }
}

}  // namespace qrepair
