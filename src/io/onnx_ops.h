// Private to the ONNX loader: turns the nodes of a single-chain graph, one at a time, into
// qrepair layers, tracking both the CHW shape and the ONNX dims of the tensor the chain ends in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/onnx_tensor.h"
#include "qrepair/error.h"
#include "qrepair/model/network.h"

namespace onnx {
class NodeProto;
}  // namespace onnx

namespace qrepair {
namespace onnx_import {

// The chain converted so far.
struct ImportState {
  std::string path;  // the model file, for messages
  const ConstantMap* constants = nullptr;
  Network network;
  Shape shape;                // per-sample CHW shape of the chain's tensor
  std::vector<int64_t> dims;  // its ONNX dims, batch first (-1 when symbolic)
};

struct OpNode {
  const onnx::NodeProto* proto = nullptr;
  std::string label;   // the node's name, or <OpType>_<index>
  int data_input = 0;  // which input is the chain's tensor; the others are constants
};

// Appends the node's layers (none for Identity, Dropout or a Flatten of a flat tensor) or folds
// the node into the layers already there. Throws BadInput naming the node when unsupported.
void ImportNode(const OpNode& node, ImportState& state);

// CHW shape of ONNX dims [batch, ...]: [b,N] -> Nx1x1, [b,C,W] -> Cx1xW, [b,C,H,W] -> CxHxW.
// False for other ranks or dims that do not fit an int.
bool ShapeOfDims(const std::vector<int64_t>& dims, Shape* shape);

// ---- Shared by the op files ----

Error NodeError(const ImportState& state, const OpNode& node, const std::string& message);
int64_t IntAttr(const ImportState& state, const OpNode& node, const char* name, int64_t fallback);
float FloatAttr(const ImportState& state, const OpNode& node, const char* name, float fallback);
std::vector<int64_t> IntsAttr(const ImportState& state, const OpNode& node, const char* name,
                              const std::vector<int64_t>& fallback);
std::string StringAttr(const ImportState& state, const OpNode& node, const char* name,
                       const std::string& fallback);
// The constant feeding input `index`; nullptr when an optional input is absent.
const ConstTensor* ConstInput(const ImportState& state, const OpNode& node, int index,
                              const char* role, bool required);
// The float values of a constant input (refuses integer tensors).
const std::vector<float>& FloatValues(const ImportState& state, const OpNode& node,
                                      const ConstTensor& tensor, const char* role);
// A constant broadcast (numpy rules) against `dims` (batch first) and expanded to one sample:
// one value when the constant holds one, else one per element of the sample in CHW order.
std::vector<float> BroadcastToSample(const ImportState& state, const OpNode& node,
                                     const ConstTensor& tensor, const std::vector<int64_t>& dims,
                                     const char* role);
// Appends a layer whose input is the chain's tensor and advances the chain's shape.
void Emit(ImportState& state, Layer layer);
// Appends a kFlatten named `name` unless the chain's tensor is already Cx1x1.
void FlattenIfNeeded(ImportState& state, const std::string& name);

// ---- One function per group of operators ----

void ImportGemm(const OpNode& node, ImportState& state);
void ImportMatMul(const OpNode& node, ImportState& state);
void ImportConv(const OpNode& node, ImportState& state);
void ImportPool(const OpNode& node, ImportState& state);  // Max/Average, and their Global forms
void ImportElementwise(const OpNode& node, ImportState& state);  // Add, Sub, Mul, Div
void ImportFlatten(const OpNode& node, ImportState& state);
void ImportReshape(const OpNode& node, ImportState& state);

}  // namespace onnx_import
}  // namespace qrepair
