// Importing an already-quantized (int8) ONNX model as qrepair's integer network: the QDQ form
// that ONNX Runtime's quantizer and qrepair's own export (ExportOnnxQdq) write.
//
// Accepted (a single chain from the float input to the output):
//   [Sub/Div normalization] [Clip] QuantizeLinear DequantizeLinear      the input code
//   Gemm | MatMul [Add] | Conv  with weights INT8 (or INT32) -> DequantizeLinear (zero point 0,
//       per tensor or per output channel) and the bias INT32 -> DequantizeLinear at scale
//       s_x * s_w (or FLOAT, then quantized to that scale, half to even)
//   [Relu | LeakyRelu] [Clip] QuantizeLinear DequantizeLinear           the layer's output code
//   MaxPool, Flatten, Reshape (flattening), Relu, Identity, Dropout     codes pass through
//   a last linear layer with no QuantizeLinear after it                 int32 logits
//   [Neg]                                                               an argmin decision
// A Cast of codes to their own type (torch.onnx writes one after each QuantizeLinear) passes
// them; ConstantOfShape and Cast of constants (torch's bias zero points) are folded.
// A Clip before a QuantizeLinear narrows the code to 2..7 bits when its bounds are that code's
// range. Everything else (QOperator nodes, AveragePool, activations of other widths, non-zero
// weight zero points, multipliers >= 2^31) is refused with the node's name.
#pragma once

#include <string>

#include "qrepair/io/json_io.h"

namespace qrepair {

// True when `path` parses as an ONNX model with quantization nodes (QuantizeLinear,
// DequantizeLinear, QLinear*, MatMulInteger, ConvInteger); false for anything else, including
// files that are not ONNX at all (their loader reports those).
bool IsQuantizedOnnx(const std::string& path);

// The integer network of an int8 ONNX model, with a stand-in float network (Network::stand_in:
// none is behind it) and provenance "import-onnx". Throws Error(kBadInput) naming the file and
// the node for whatever has no exact integer meaning here.
ModelFile LoadQuantizedOnnx(const std::string& path);

}  // namespace qrepair
