// Batched forward passes: the float network, and the reference integer pass of a quantized one.
//
// Batches are column-per-sample matrices (features x samples), so a row-major Dataset maps onto
// one without copying. Activations inside a sample are in CHW order.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "qrepair/io/dataset.h"
#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"

namespace qrepair {

using FloatBatch = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
using CodeBatch = Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic>;

// Network input for rows [begin, end) of a data set.
FloatBatch InputBatch(const Dataset& data, int64_t begin = 0, int64_t end = -1);

FloatBatch ForwardFloatLayer(const Layer& layer, const FloatBatch& input);
// Logits of the float network. With `trace`, also every layer's output (trace[i] = layer i).
FloatBatch ForwardFloat(const Network& network, const FloatBatch& input,
                        std::vector<FloatBatch>* trace = nullptr);

// ---- Reference integer pass (see integer_ops.h for the arithmetic) ----
//
// input code  x_q = sat(round(((x - offset) / divisor) / s_in) + zp_in)
// linear      acc = sum_j w_q[u][j] * (x_q[j] - zp_x) + b_q[u]        (exact, int64)
//             y_q = sat(Requantize(acc, M[u]) + zp_y)  M[u] = s_w[u] * s_x / s_y
//   with ReLU y_q = sat(Requantize(max(acc, 0), M[u]) + zp_y)
//   LeakyReLU y_q = sat(acc >= 0 ? Requantize(acc, M[u]) : Requantize(acc, M[u] * alpha)) + zp_y
// max pool    y_q = max of the window's codes (padding never wins)
// avg pool    y_q = zp + RoundingDivide(sum of the window's (codes - zp), cells inside the input)
//             (tflite: RoundingDivide(sum of the codes, cells), as TFLite's integer AveragePool)
// ReLU        y_q = max(x_q, zp)
// flatten     codes unchanged
// Requantize, RoundingDivide and RoundReal round in the network's rounding mode (integer_ops.h);
// zero points (zp) are 0 unless the activations are asymmetric; the bias is at s_w * s_x, so the
// input zero point is subtracted from the codes, not folded into the bias (a repaired weight
// needs no bias update).
// The last linear layer writes int32 logits at one common scale (so argmax is an integer
// comparison): M[u] = s_w[u] / min_v s_w[v], exactly 1 for per-tensor weights.
// Accumulation is exact: integer kernels (u8 x s8 or int16 codes, int32 sums) where the layer's
// range proves every partial sum below 2^31 (src/quant/kernels/gemm.h), else a double GEMM
// (exact below 2^53); the scalar oracle in the tests checks every path bit for bit.
// Both passes split large batches over ComputeThreads() (compute_threads.h); results never
// depend on the thread count or on the CPU's instruction set.

CodeBatch QuantizeInput(const QuantizedNetwork& network, const FloatBatch& input);
// Largest |acc| a linear layer can reach on input codes in its input code's range.
double AccumulatorBound(const QuantLayer& layer);
// The ranges the integer pass (and the C header's int64 runtime) computes exactly: accumulators
// below 2^53 and requantization products below 2^62, with multipliers below 2^31. Throws
// BadInput naming `source` and `place` otherwise (a file can hold scales and widths that
// qrepair's own quantization never produces). Needs the layer's multipliers.
void CheckIntegerRanges(const QuantLayer& layer, const std::string& source,
                        const std::string& place);
// Accumulators (before requantization) of a linear layer: units*positions x samples.
Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic> LinearAccumulators(const QuantLayer& layer,
                                                                          const CodeBatch& input);
// The average pool's code of a window whose `count` codes sum to `sum`.
int64_t AverageCode(int64_t sum, int64_t count, const QuantLayer& layer);
// Requantized output of one unit's accumulator (the fused activation included).
int32_t RequantizeUnit(const QuantLayer& layer, int unit, int64_t acc);
CodeBatch ForwardIntegerLayer(const QuantLayer& layer, const CodeBatch& input);
// Integer logits. With `trace`, also every layer's output codes.
CodeBatch ForwardInteger(const QuantizedNetwork& network, const CodeBatch& input_codes,
                         std::vector<CodeBatch>* trace = nullptr);

// The float layer a quantized one stands for: its integer weights times their scales, the float
// bias (weights-only mode keeps biases in float).
Layer DequantizedLayer(const QuantLayer& layer);
// The float network a weights-only quantized network computes: its input normalization, then
// DequantizedLayer of each layer.
Network DequantizedNetwork(const QuantizedNetwork& network);

// Weights-only mode: the dequantized integer weights with float activations.
FloatBatch ForwardWeightsOnly(const QuantizedNetwork& network, const FloatBatch& input);

// Top-1 per sample (lowest index wins ties, as numpy.argmax).
std::vector<int> ArgmaxColumns(const FloatBatch& logits);
std::vector<int> ArgmaxColumns(const CodeBatch& logits);

// Top-1 of the quantized network on float inputs, whichever its activation mode.
std::vector<int> PredictQuantized(const QuantizedNetwork& network, const FloatBatch& input);

}  // namespace qrepair
