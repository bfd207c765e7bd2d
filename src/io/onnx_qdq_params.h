// Private to the int8 ONNX importer: the parameters of QuantizeLinear and DequantizeLinear nodes
// (scales, zero points, the integer type) and the integer constants a DequantizeLinear reads.
//
// ONNX operator spec (opset 13):
//   QuantizeLinear    y = saturate(round_half_even(x / y_scale) + y_zero_point), y of the zero
//                     point's type (uint8 when it is absent);
//   DequantizeLinear  y = (x - x_zero_point) * x_scale.
// A scalar scale is per tensor; a 1-D one is per axis (one scale per slice along `axis`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/onnx_ops.h"
#include "qrepair/model/quantized_network.h"

namespace qrepair {
namespace onnx_import {

struct QdqParams {
  std::vector<double> scales;        // float32 values, held exactly
  std::vector<int64_t> zero_points;  // one per scale (0 when the input is absent)
  int data_type = 0;                 // onnx::TensorProto INT8, UINT8 or INT32
  bool per_axis = false;
  int64_t axis = 1;  // as written (may be negative)
};

// Reads inputs 1 (scale) and 2 (zero point) and the axis of a QuantizeLinear or
// DequantizeLinear node. `data_type` is the integer type of the DequantizeLinear's input (0 for
// a QuantizeLinear: its type is the zero point's). Throws NodeError for non-FLOAT or non-positive
// scales, zero points of another type or count, and types other than INT8, UINT8 or INT32.
QdqParams ReadQdqParams(const ImportState& state, const OpNode& node, int data_type);

// The per-tensor 8-bit code of an activation Q/DQ (refuses per-axis parameters and INT32).
ActivationCode ActivationCodeOf(const ImportState& state, const OpNode& node,
                                const QdqParams& params);

// A constant read through a DequantizeLinear: the stored integers and how they dequantize.
struct DequantizedConstant {
  ConstTensor codes;
  QdqParams params;
  std::string place;  // "node 'NAME' (DequantizeLinear)", for messages
};

// The DequantizeLinear `node` of a constant integer tensor (input 0 an initializer).
DequantizedConstant ReadDequantizedConstant(const ImportState& state, const OpNode& node);

// "INT8", "UINT8", ... for messages.
std::string TypeName(int data_type);

}  // namespace onnx_import
}  // namespace qrepair
