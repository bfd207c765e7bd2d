// Reading QuantizeLinear/DequantizeLinear parameters: see onnx_qdq_params.h.
#include "io/onnx_qdq_params.h"

#include <onnx/onnx_pb.h>

#include <cmath>

namespace qrepair {
namespace onnx_import {

std::string TypeName(int data_type) {
  if (data_type == 0) return "an untyped constant";
  return onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(data_type));
}

QdqParams ReadQdqParams(const ImportState& state, const OpNode& node, int data_type) {
  QdqParams p;
  const ConstTensor& scale = *ConstInput(state, node, 1, "scale", true);
  if (!scale.is_float || (scale.data_type != onnx::TensorProto::FLOAT && scale.data_type != 0)) {
    throw NodeError(state, node,
                    "scale is " + TypeName(scale.data_type) + ", expected a FLOAT tensor");
  }
  if (scale.dims.size() > 1 || scale.floats.empty()) {
    throw NodeError(state, node,
                    "scale is " + DimsToString(scale.dims) +
                        ", expected a scalar (per tensor) or a 1-D tensor (per axis)");
  }
  for (float s : scale.floats) {
    if (!(s > 0.0f) || !std::isfinite(s)) {
      throw NodeError(state, node,
                      "scale " + std::to_string(s) + " is not a positive finite number");
    }
    p.scales.push_back(static_cast<double>(s));
  }
  p.per_axis = scale.dims.size() == 1 && scale.floats.size() > 1;
  p.axis = IntAttr(state, node, "axis", 1);
  p.data_type = data_type;
  const ConstTensor* zero = ConstInput(state, node, 2, "zero_point", false);
  if (zero) {
    if (zero->is_float) {
      throw NodeError(state, node, "zero_point is a FLOAT tensor, expected INT8 or UINT8");
    }
    if (data_type == 0) p.data_type = zero->data_type;
    if (zero->data_type != p.data_type) {
      throw NodeError(state, node,
                      "zero_point is " + TypeName(zero->data_type) + ", expected " +
                          TypeName(p.data_type) + " (the type of the quantized tensor)");
    }
    if (zero->ints.size() != scale.floats.size()) {
      throw NodeError(state, node,
                      "zero_point has " + std::to_string(zero->ints.size()) +
                          " values, expected one per scale (" +
                          std::to_string(scale.floats.size()) + ")");
    }
    p.zero_points = zero->ints;
  } else {
    if (data_type == 0) {  // the spec's default, or opset 21's output_dtype
      p.data_type =
          static_cast<int>(IntAttr(state, node, "output_dtype", onnx::TensorProto::UINT8));
    }
    p.zero_points.assign(p.scales.size(), 0);
  }
  if (p.data_type != onnx::TensorProto::INT8 && p.data_type != onnx::TensorProto::UINT8 &&
      p.data_type != onnx::TensorProto::INT32) {
    throw NodeError(state, node,
                    "quantizes to " + TypeName(p.data_type) +
                        ", expected INT8 or UINT8 (INT32 "
                        "for biases)");
  }
  return p;
}

ActivationCode ActivationCodeOf(const ImportState& state, const OpNode& node,
                                const QdqParams& params) {
  if (params.scales.size() != 1) {
    throw NodeError(state, node,
                    "has " + std::to_string(params.scales.size()) +
                        " scales; activations need one scale per tensor (per-axis scales are "
                        "for weights)");
  }
  if (params.data_type == onnx::TensorProto::INT32) {
    throw NodeError(state, node, "quantizes an activation to INT32, expected INT8 or UINT8");
  }
  ActivationCode code;
  code.scale = params.scales[0];
  code.bits = 8;
  code.is_signed = params.data_type == onnx::TensorProto::INT8;
  code.zero_point = params.zero_points[0];
  return code;
}

DequantizedConstant ReadDequantizedConstant(const ImportState& state, const OpNode& node) {
  DequantizedConstant c;
  c.codes = *ConstInput(state, node, 0, "x", true);
  if (c.codes.is_float) {
    throw NodeError(state, node, "input x is a FLOAT tensor, expected integer codes");
  }
  c.params = ReadQdqParams(state, node, c.codes.data_type);
  c.place = "node '" + node.label + "' (DequantizeLinear)";
  if (c.params.per_axis) {
    const int64_t rank = static_cast<int64_t>(c.codes.dims.size());
    const int64_t axis = c.params.axis < 0 ? c.params.axis + rank : c.params.axis;
    if (axis < 0 || axis >= rank ||
        c.codes.dims[axis] != static_cast<int64_t>(c.params.scales.size())) {
      throw NodeError(state, node,
                      "has " + std::to_string(c.params.scales.size()) + " scales along axis " +
                          std::to_string(c.params.axis) + " of a " + DimsToString(c.codes.dims) +
                          " tensor; expected one per slice");
    }
    c.params.axis = axis;
  }
  return c;
}

}  // namespace onnx_import
}  // namespace qrepair
