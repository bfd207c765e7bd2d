// The float network's chain, its sound bounds and its exact evaluation (float_chain.h).
#include "verify/float_chain.h"

#include <cmath>
#include <limits>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "verify/symbolic_bounds.h"

namespace qrepair {
namespace {

constexpr double kUnit = 1.1102230246251565e-16;  // u = 2^-53
constexpr double kInf = std::numeric_limits<double>::infinity();

CodeLayer AffineRows(const Layer& layer) {
  CodeLayer rows;
  rows.name = layer.name;
  rows.inputs = static_cast<int>(layer.input_shape.Size());
  rows.outputs = static_cast<int>(layer.output_shape.Size());
  rows.weights.resize(rows.outputs, rows.inputs);
  rows.bias.resize(rows.outputs);
  if (layer.kind == LayerKind::kDense) {
    for (int r = 0; r < rows.outputs; ++r) {
      rows.bias[r] = layer.bias[r];
      for (int j = 0; j < rows.inputs; ++j)
        rows.weights(r, j) = layer.weights[static_cast<size_t>(r) * rows.inputs + j];
    }
  } else {
    // Column j is the bias-free convolution of the unit vector e_j: each entry is one weight
    // times 1 plus zeros, exact in float32.
    Layer no_bias = layer;
    std::fill(no_bias.bias.begin(), no_bias.bias.end(), 0.0f);
    const FloatBatch unit = FloatBatch::Identity(rows.inputs, rows.inputs);
    const FloatBatch columns = ForwardFloatLayer(no_bias, unit);
    rows.weights = columns.cast<double>();
    const int64_t positions = int64_t{layer.output_shape.height} * layer.output_shape.width;
    for (int r = 0; r < rows.outputs; ++r) rows.bias[r] = layer.bias[r / positions];
  }
  rows.weights_pos = rows.weights.cwiseMax(0.0);
  rows.weights_neg = rows.weights.cwiseMin(0.0);
  rows.weights_abs = rows.weights.cwiseAbs();
  return rows;
}

// The lines of one row: x = acc (no ReLU or an active one), x = 0 (inactive), or DeepPoly's
// lines for an unstable ReLU. The upper line is above max(t, 0) at both ends of [l, u], hence on
// all of it (max(t, 0) is convex); its offset is charged for its two roundings.
CodeRelaxation RowLines(bool relu, double l, double u, FloatBoundMutation mutation) {
  CodeRelaxation r;
  if (!relu || l >= 0) {
    r.slope_lo = r.slope_hi = 1;
  } else if (u > 0) {
    r.slope_hi = u / (u - l);
    const double at_l = -r.slope_hi * l, at_u = u - r.slope_hi * u;
    const double charge = 4 * kUnit * (std::fabs(r.slope_hi * l) + std::fabs(u) + 1e-300);
    r.offset_hi = std::nextafter(std::max(at_l, at_u) + charge, kInf);
    if (mutation == FloatBoundMutation::kChordThroughZero) r.offset_hi = 0;
    r.slope_lo = u > -l ? 1 : 0;  // max(t, 0) >= t and >= 0: the smaller area
  }
  return r;
}

}  // namespace

FloatChain BuildFloatChain(const Network& network, const std::string& source) {
  FloatChain chain;
  chain.net.inputs = static_cast<int>(network.input_shape.Size());
  for (const Layer& layer : network.layers) {
    switch (layer.kind) {
      case LayerKind::kDense:
      case LayerKind::kConv2d:
        chain.net.layers.push_back(AffineRows(layer));
        chain.relu.push_back(false);
        break;
      case LayerKind::kRelu:
        if (chain.net.layers.empty()) {
          throw BadInput(source, "layer '" + layer.name + "'",
                         "the equivalence check needs a linear layer before a ReLU");
        }
        chain.relu.back() = true;  // a second ReLU in a row changes nothing
        break;
      case LayerKind::kFlatten:
        break;
      default:
        throw BadInput(source, "layer '" + layer.name + "'",
                       std::string("the equivalence check handles dense, convolution, ReLU and "
                                   "flatten layers, not ") +
                           LayerKindName(layer.kind));
    }
  }
  if (chain.net.layers.empty()) throw BadInput(source, "", "the float network has no layer");
  return chain;
}

void PropagateFloatBounds(const FloatChain& chain, const CodeBox& input,
                          std::vector<LayerBounds>& bounds, uint64_t& work,
                          FloatBoundMutation mutation) {
  const CodeNetwork& net = chain.net;
  bounds.resize(net.layers.size());
  for (size_t k = 0; k < net.layers.size(); ++k) {
    const CodeLayer& layer = net.layers[k];
    LayerBounds& b = bounds[k];
    const CodeBox& in = k == 0 ? input : bounds[k - 1].codes;
    const Eigen::VectorXd mid_lo = layer.weights_pos * in.lo + layer.weights_neg * in.hi;
    const Eigen::VectorXd mid_hi = layer.weights_pos * in.hi + layer.weights_neg * in.lo;
    const Eigen::VectorXd err = DotProductErrorFactor(2 * int64_t{layer.inputs} + 2) *
                                (layer.weights_abs * BoxMagnitude(in) + layer.bias.cwiseAbs());
    b.acc_lo.resize(layer.outputs);
    b.acc_hi.resize(layer.outputs);
    for (int r = 0; r < layer.outputs; ++r) {
      // err bounds the sum's roundings; 4u more covers err's own rounding and the additions.
      const double e = err[r] * (1 + 8 * kUnit) + 4 * kUnit * std::fabs(layer.bias[r]);
      b.acc_lo[r] = std::nextafter(mid_lo[r] + layer.bias[r] - e, -kInf);
      b.acc_hi[r] = std::nextafter(mid_hi[r] + layer.bias[r] + e, kInf);
    }
    work += static_cast<uint64_t>(layer.outputs) * layer.inputs * 3;
    if (k > 0 && chain.relu[k]) {
      std::vector<int> rows;
      for (int r = 0; r < layer.outputs; ++r)
        if (b.acc_lo[r] < 0 && b.acc_hi[r] > 0) rows.push_back(r);
      if (!rows.empty()) {
        Eigen::VectorXd lo, hi;
        BackSubstituteRows(net, bounds, input, static_cast<int>(k), rows, lo, hi, work);
        for (size_t i = 0; i < rows.size(); ++i) {
          const int r = rows[i];
          b.acc_lo[r] = std::max(b.acc_lo[r], lo[static_cast<Eigen::Index>(i)]);
          b.acc_hi[r] = std::min(b.acc_hi[r], hi[static_cast<Eigen::Index>(i)]);
          if (b.acc_lo[r] > b.acc_hi[r]) {
            throw InternalError("equivalence: float bounds of layer '" + layer.name + "' row " +
                                std::to_string(r) + " do not meet");
          }
        }
      }
    }
    b.relax.resize(static_cast<size_t>(layer.outputs));
    b.codes.lo.resize(layer.outputs);
    b.codes.hi.resize(layer.outputs);
    b.unstable = 0;
    for (int r = 0; r < layer.outputs; ++r) {
      const double l = b.acc_lo[r], u = b.acc_hi[r];
      b.relax[r] = RowLines(chain.relu[k], l, u, mutation);
      b.codes.lo[r] = chain.relu[k] ? std::max(l, 0.0) : l;
      b.codes.hi[r] = chain.relu[k] ? std::max(u, 0.0) : u;
      if (chain.relu[k] && l < 0 && u > 0) ++b.unstable;
    }
  }
}

std::vector<mpq_class> ExactOutputs(const FloatChain& chain, const std::vector<float>& input) {
  std::vector<mpq_class> x(input.begin(), input.end());
  for (size_t k = 0; k < chain.net.layers.size(); ++k) {
    const CodeLayer& layer = chain.net.layers[k];
    std::vector<mpq_class> y(static_cast<size_t>(layer.outputs));
    for (int r = 0; r < layer.outputs; ++r) {
      mpq_class sum(layer.bias[r]);
      for (int j = 0; j < layer.inputs; ++j) {
        const double w = layer.weights(r, j);
        if (w != 0 && x[j] != 0) sum += mpq_class(w) * x[j];
      }
      if (chain.relu[k] && sum < 0) sum = 0;
      y[r] = std::move(sum);
    }
    x = std::move(y);
  }
  return x;
}

int ExactTop1(const std::vector<mpq_class>& outputs) {
  int best = 0;
  for (size_t j = 1; j < outputs.size(); ++j)
    if (outputs[j] > outputs[best]) best = static_cast<int>(j);
  return best;
}

}  // namespace qrepair
