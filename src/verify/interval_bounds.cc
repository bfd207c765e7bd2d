// Interval analysis over integer codes (maths in interval_bounds.h).
#include "verify/interval_bounds.h"

namespace qrepair {

double CodeBox::Points() const {
  double n = 1;
  for (Eigen::Index i = 0; i < lo.size(); ++i) n *= hi[i] - lo[i] + 1;
  return n;
}

void IntervalAccumulators(const CodeLayer& layer, const CodeBox& input, Eigen::VectorXd& acc_lo,
                          Eigen::VectorXd& acc_hi) {
  acc_lo.noalias() = layer.weights_pos * input.lo;
  acc_lo.noalias() += layer.weights_neg * input.hi;
  acc_lo += layer.bias;
  acc_hi.noalias() = layer.weights_pos * input.hi;
  acc_hi.noalias() += layer.weights_neg * input.lo;
  acc_hi += layer.bias;
}

void RelaxLayer(const CodeLayer& layer, LayerBounds& bounds, BoundMutation mutation) {
  const int n = layer.outputs;
  bounds.relax.resize(n);
  bounds.codes.lo.resize(n);
  bounds.codes.hi.resize(n);
  bounds.unstable = 0;
  for (int r = 0; r < n; ++r) {
    CodeRelaxation& x = bounds.relax[r];
    x = RelaxRow(layer, r, static_cast<int64_t>(bounds.acc_lo[r]),
                 static_cast<int64_t>(bounds.acc_hi[r]), mutation);
    bounds.codes.lo[r] = static_cast<double>(x.code_lo);
    bounds.codes.hi[r] = static_cast<double>(x.code_hi);
    bounds.unstable += x.code_lo < x.code_hi;
  }
}

}  // namespace qrepair
