// Exports a quantized network as a standard ONNX model in QDQ form (QuantizeLinear /
// DequantizeLinear around every quantized tensor), the form ONNX Runtime and TensorRT consume.
//
// Graph (opset 13): float input "input" [N, C, H, W] (or [N, features]) with a symbolic batch
// dimension -> the input normalization (Sub, Div) if any -> Q/DQ of the input codes -> per layer:
// weights as int8 initializers (values of 2..8-bit weights; int32 for 9..16 bits, the only wider
// type opset 13's DequantizeLinear takes) + DequantizeLinear (per-axis scales on axis 0 for
// per-channel weights), bias as int32 at scale s_w * s_x + DequantizeLinear, Gemm or Conv in
// float, Relu / LeakyRelu, then Q/DQ of the output codes (uint8 after ReLU, int8 otherwise;
// activations narrower than 8 bits get a Clip to [min, max] * scale before QuantizeLinear;
// 9..16-bit activation codes, which opset 13's QuantizeLinear cannot hold, are quantized by the
// same arithmetic in float: Div by the scale, Round (half to even), Clip to the code range, Mul).
// Max pooling and flattening act on the dequantized values (exact). Average pooling is rebuilt
// from the integer codes (Cast, AveragePool, Round, Mul) so that its half-way cases round to
// even as the reference does, instead of depending on float error. The output "logits" is the
// last linear layer's float output; metadata "logit_scale" divides it into the reference's
// integer logit quanta. Weights-only networks (float activations) export without activation
// Q/DQ and with their float biases. A network configured with "decision": "argmin" (negated in
// memory, see OrientForDecision) ends in a Neg, so "logits" are the loaded network's outputs and
// the lowest is the decision; its metadata has decision=argmin.
//
// Why ONNX Runtime does not agree with the reference integer pass exactly, and how much:
// - ORT computes Gemm/Conv in float (or, when it fuses the QDQ pattern into QGemm/QLinearConv,
//   in integers with a float requantization multiplier); the reference multiplies integers
//   exactly and requantizes with a 31-bit fixed-point multiplier. Scales are float32 in ONNX and
//   double in qrepair. The results differ by a few units in the last float place, which changes
//   an output code only when acc * M lies within about 1e-6 of a rounding tie (x.5) or of a
//   saturation bound: a rare one-code difference in some activation.
// - Logits: the reference rounds per-channel logits to integer quanta; ORT keeps them real.
//   With per-tensor weights the logits differ only by float error (far below a quantum).
// - Top-1 changes only when such a difference meets a near-tie between the two best logits.
//   `qrepair repair --margin M` makes every repaired sample win by at least M logit quanta in
//   the reference pass, so a sample is safe when the accumulated difference stays below M
//   quanta; tests/ort_export_test.cc and bench/ort_agreement.sh measure the agreement (>= 99.9 %)
//   and the largest logit difference in quanta.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"

namespace qrepair {

// The serialized ModelProto, already checked by libonnx's checker. `float_net` is the network
// `network` was quantized from (its name and input shape must match). Throws Error(kBadInput)
// for what it cannot express (layers after the logits other than Flatten, biases outside
// int32), InternalError if the checker rejects it.
std::string ExportOnnxQdq(const QuantizedNetwork& network, const Network& float_net);

// The exported input's shape without the batch dimension: {C, H, W} for spatial inputs (or a
// network that starts with a convolution or pooling), {features} otherwise.
std::vector<int64_t> OnnxInputDims(const QuantizedNetwork& network);

}  // namespace qrepair
