// The network as the verifier sees it: a plain chain of affine layers over integer codes, each
// row followed by its scalar code function (requantization with the fused activation and
// saturation). Convolutions are expanded to dense rows, Flatten disappears, a standalone ReLU is
// an identity row with f(t) = max(t, 0). Every code comes from the reference helpers
// (RequantizeUnit, quant/forward.h), so the verifier and the integer pass share one semantics.
//
//   acc^k = W^k x^{k-1} + b^k   (exact: integer weights and codes, |acc| < 2^53, checked)
//   x^k_r = f^k_r(acc^k_r)       f non-decreasing (requantization and ReLU/LeakyReLU are)
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "qrepair/model/quantized_network.h"

namespace qrepair {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The scalar code function of one row and what its relaxation needs to know about it:
//   f(t) = sat(round(M g(t)))   g(t) = t (none), max(t, 0) (ReLU), t >= 0 ? t : (alpha) t
// where the LeakyReLU's negative side has its own multiplier M_neg = M * alpha (as the pass).
struct CodeFunction {
  QActivation activation = QActivation::kNone;
  double multiplier = 1;      // M = m * 2^-shift, exact in a double (m < 2^31)
  double multiplier_neg = 0;  // M_neg (LeakyReLU only)
  int64_t out_min = 0, out_max = 0;
};

struct CodeLayer {
  std::string name;
  int inputs = 0, outputs = 0;
  RowMatrix weights;                    // outputs x inputs, integers (exact in a double)
  RowMatrix weights_pos, weights_neg;   // max(W, 0) and min(W, 0), for intervals
  Eigen::VectorXd bias;                 // integers
  std::vector<CodeFunction> functions;  // one per row
  // The reference: row r's code is RequantizeUnit(*source, unit[r], acc); source == nullptr
  // for a standalone ReLU (max(acc, 0)).
  const QuantLayer* source = nullptr;
  std::vector<int> unit;

  int64_t Apply(int row, int64_t acc) const;
};

struct CodeNetwork {
  int inputs = 0;
  int64_t input_min = 0, input_max = 0;  // the input code's range
  std::vector<CodeLayer> layers;
  // Y_j = output_scale * logit_code_j (output_scale < 0 when the decision is argmin: the last
  // layer is negated in memory, Y is in the file's orientation).
  double output_scale = 1;

  int outputs() const { return layers.empty() ? inputs : layers.back().outputs; }
};

// Builds the chain. Throws Error(kBadInput) for what the verifier does not handle (pooling,
// weights-only networks, a non-positive input divisor). `network` must outlive the result.
CodeNetwork BuildCodeNetwork(const QuantizedNetwork& network, const std::string& source);

// Codes of every layer for one input code point (trace[k] = x^{k+1}); returns the logits.
// Scalar and exact (double accumulation is exact below 2^53); the reference pass confirms.
std::vector<int64_t> EvaluateCodes(const CodeNetwork& net, const std::vector<int64_t>& input,
                                   std::vector<std::vector<int64_t>>* trace = nullptr);

}  // namespace qrepair
