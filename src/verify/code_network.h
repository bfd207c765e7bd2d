// The network as the verifier sees it: a plain chain of affine layers over integer codes, each
// row followed by its scalar code function (requantization with the fused activation and
// saturation). Convolutions are expanded to dense rows, Flatten disappears, a standalone ReLU is
// an identity row with f(t) = max(t, 0). Every code comes from the reference helpers
// (RequantizeUnit, quant/forward.h), so the verifier and the integer pass share one semantics.
//
//   acc^k = W^k x^{k-1} + b^k   (b^k = bias - W (input zero point): the pass's centered codes;
//                                exact: integer weights and codes, |acc| < 2^53, checked)
//   x^k_r = f^k_r(acc^k_r)       f non-decreasing (requantization and ReLU/LeakyReLU are)
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "qrepair/model/quantized_network.h"

namespace qrepair {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The scalar code function of one row and what its relaxation needs to know about it:
//   f(t) = sat(round(M g(t)) + z)   g(t) = t (none), max(t, 0) (ReLU), t >= 0 ? t : (alpha) t
// where the LeakyReLU's negative side has its own multiplier M_neg = M * alpha (as the pass),
// round is the layer's rounding mode and z the output's zero point. A standalone ReLU is
// f(t) = max(t, 0) + z on the centered code t = x - z (no rounding: error 0).
struct CodeFunction {
  QActivation activation = QActivation::kNone;
  double multiplier = 1;      // M = m * 2^-shift, exact in a double (m < 2^31)
  double multiplier_neg = 0;  // M_neg (LeakyReLU only)
  int64_t zero_point = 0;     // z, added after the rounding, before the saturation
  int64_t out_min = 0, out_max = 0;
  // |round(M g(t)) - M g(t)| <= rounding_error for |t| <= exact_limit (RequantizeErrorBound and
  // RequantizeExactLimit of the layer's mode and multipliers; the one source of both numbers).
  double rounding_error = 0;
  int64_t exact_limit = INT64_MAX;
};

struct CodeLayer {
  std::string name;
  int inputs = 0, outputs = 0;
  RowMatrix weights;                    // outputs x inputs, integers (exact in a double)
  RowMatrix weights_pos, weights_neg;   // max(W, 0) and min(W, 0), for intervals
  RowMatrix weights_abs;                // |W|, for the error charges of back-substitution
  Eigen::VectorXd bias;                 // integers
  std::vector<CodeFunction> functions;  // one per row
  // The reference: row r's code is RequantizeUnit(*source, unit[r], acc); source == nullptr
  // for a standalone ReLU (max(acc, 0) + z, acc = x - z).
  const QuantLayer* source = nullptr;
  std::vector<int> unit;

  int64_t Apply(int row, int64_t acc) const;
};

struct CodeNetwork {
  int inputs = 0;
  int64_t input_min = 0, input_max = 0;  // the input code's range
  std::vector<CodeLayer> layers;
  // Y_j = output_scale * (logit_code_j - output_zero_point) (output_scale < 0 when the decision
  // is argmin: the last layer is negated in memory, Y is in the file's orientation).
  double output_scale = 1;
  int64_t output_zero_point = 0;

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
