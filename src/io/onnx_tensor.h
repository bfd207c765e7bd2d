// Private to the ONNX loader: constant tensors (initializers, Constant nodes) decoded into plain
// vectors, with every size checked against the tensor's dims before anything is allocated.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace onnx {
class TensorProto;
}  // namespace onnx

namespace qrepair {
namespace onnx_import {

// The most elements one tensor may hold (the same bound as ValidateNetwork's).
constexpr int64_t kMaxTensorElements = int64_t{1} << 28;

// A constant's values: FLOAT and DOUBLE tensors fill `floats`; INT8, UINT8 (the codes and zero
// points of quantized models), INT32 and INT64 fill `ints`.
struct ConstTensor {
  std::vector<int64_t> dims;
  int data_type = 0;  // onnx::TensorProto::DataType; 0 for Constant nodes' value_float(s)/int(s)
  bool is_float = false;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  int64_t Size() const;  // product of dims; 1 for a scalar
};

using ConstantMap = std::map<std::string, ConstTensor>;

// `model_path` locates external data (which must stay inside the model's folder); `place` names
// the tensor in messages, e.g. "initializer 'fc1.weight'".
ConstTensor DecodeTensor(const onnx::TensorProto& tensor, const std::string& model_path,
                         const std::string& place);

// Product of dims, or -1 when a dim is negative or the product exceeds kMaxTensorElements.
int64_t CheckedElementCount(const std::vector<int64_t>& dims);

// "256x784"; "scalar" for no dims; symbolic dims (-1) print as "?".
std::string DimsToString(const std::vector<int64_t>& dims);
// "[-1, 784]": an attribute or shape-tensor value as written.
std::string ListToString(const std::vector<int64_t>& values);

}  // namespace onnx_import
}  // namespace qrepair
