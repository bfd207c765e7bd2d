// Back-substitution over integer codes (maths in symbolic_bounds.h).
#include "verify/symbolic_bounds.h"

#include <cmath>
#include <limits>

#include "qrepair/error.h"

namespace qrepair {

namespace {

constexpr double kUnit = 1.1102230246251565e-16;  // u = 2^-53
constexpr double kInf = std::numeric_limits<double>::infinity();

Eigen::VectorXd Magnitude(const CodeBox& box) {
  return box.lo.cwiseAbs().cwiseMax(box.hi.cwiseAbs());
}

}  // namespace

double DotProductErrorFactor(int64_t n) { return 2.0 * static_cast<double>(n + 8) * kUnit; }

void BackSubstitute(const CodeNetwork& net, const std::vector<LayerBounds>& bounds,
                    const CodeBox& input, int k, RowMatrix a, Eigen::VectorXd c,
                    Eigen::VectorXd& lo, Eigen::VectorXd& hi, RowMatrix* input_coefficients,
                    uint64_t& work) {
  const Eigen::Index rows = a.rows();
  Eigen::VectorXd c_lo = c, c_hi = c;
  Eigen::VectorXd err = Eigen::VectorXd::Zero(rows);  // charged to both ends at the end
  Eigen::VectorXd slope, o_lo, o_hi;
  RowMatrix g, a_pos, a_neg;
  for (int j = k - 1; j >= 0; --j) {
    const CodeLayer& layer = net.layers[j];
    const LayerBounds& b = bounds[j];
    const int n = layer.outputs;
    slope.resize(n);
    o_lo.resize(n);
    o_hi.resize(n);
    for (int r = 0; r < n; ++r) {
      slope[r] = b.relax[r].slope;
      o_lo[r] = b.relax[r].offset_lo;
      o_hi[r] = b.relax[r].offset_hi;
    }
    a_pos = a.cwiseMax(0.0);
    a_neg = a.cwiseMin(0.0);
    // Offsets: sum_r a_r^+ o^lo_r + a_r^- o^hi_r (lower), mirrored (upper).
    Eigen::VectorXd t_lo = a_pos * o_lo + a_neg * o_hi;
    Eigen::VectorXd t_hi = a_pos * o_hi + a_neg * o_lo;
    const Eigen::VectorXd o_mag = o_lo.cwiseAbs().cwiseMax(o_hi.cwiseAbs());
    const double gamma = DotProductErrorFactor(n + layer.inputs);
    err += gamma * (a.cwiseAbs() * o_mag);
    g = a * slope.asDiagonal();
    const RowMatrix g_abs = g.cwiseAbs();
    Eigen::VectorXd t_b = g * layer.bias;
    err += gamma * (g_abs * layer.bias.cwiseAbs());
    a.noalias() = g * layer.weights;
    // The computed a' against the exact one, times the magnitude of the inputs of layer j.
    const Eigen::VectorXd mag = j == 0 ? Magnitude(input) : Magnitude(bounds[j - 1].codes);
    err += gamma * (g_abs * (layer.weights.cwiseAbs() * mag));
    // The accumulation of the constants: three additions each.
    err += 4 * kUnit *
           (c_lo.cwiseAbs() + c_hi.cwiseAbs() + t_lo.cwiseAbs() + t_hi.cwiseAbs() +
            2 * t_b.cwiseAbs() + err);
    c_lo += t_lo + t_b;
    c_hi += t_hi + t_b;
    work += static_cast<uint64_t>(rows) * n * (3 + 2 * static_cast<uint64_t>(layer.inputs));
  }
  // Concretize on the input box.
  const double gamma = DotProductErrorFactor(a.cols());
  Eigen::VectorXd m_lo = a.cwiseMax(0.0) * input.lo + a.cwiseMin(0.0) * input.hi;
  Eigen::VectorXd m_hi = a.cwiseMax(0.0) * input.hi + a.cwiseMin(0.0) * input.lo;
  err += gamma * (a.cwiseAbs() * Magnitude(input));
  err += 4 * kUnit * (c_lo.cwiseAbs() + c_hi.cwiseAbs() + m_lo.cwiseAbs() + m_hi.cwiseAbs() + err);
  work += static_cast<uint64_t>(rows) * a.cols() * 3;
  lo.resize(rows);
  hi.resize(rows);
  for (Eigen::Index r = 0; r < rows; ++r) {
    lo[r] = std::nextafter(c_lo[r] + m_lo[r] - err[r], -kInf);
    hi[r] = std::nextafter(c_hi[r] + m_hi[r] + err[r], kInf);
  }
  if (input_coefficients != nullptr) *input_coefficients = std::move(a);
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
        RowMatrix a(rows.size(), layer.inputs);
        Eigen::VectorXd c(rows.size());
        for (size_t i = 0; i < rows.size(); ++i) {
          a.row(static_cast<Eigen::Index>(i)) = layer.weights.row(rows[i]);
          c[static_cast<Eigen::Index>(i)] = layer.bias[rows[i]];
        }
        Eigen::VectorXd lo, hi;
        BackSubstitute(net, bounds, input, static_cast<int>(k), std::move(a), std::move(c), lo, hi,
                       nullptr, work);
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
