// Private to the ONNX readers: reading a model file, its constants and its one input, and walking
// the single chain of nodes from that input to the output. Shared by the float loader
// (onnx_loader.cc) and the int8 QDQ importer (onnx_qdq_import.cc).
#pragma once

#include <onnx/onnx_pb.h>

#include <functional>
#include <string>
#include <vector>

#include "io/onnx_ops.h"
#include "io/onnx_tensor.h"

namespace qrepair {
namespace onnx_import {

// The parsed model at `path`. Throws BadInput when it cannot be read or parsed.
onnx::ModelProto ReadModel(const std::string& path);
// Refuses models without an ai.onnx opset of at least 7.
void CheckOpset(const onnx::ModelProto& model, const std::string& path);
// Initializers and the outputs of Constant nodes, by tensor name.
ConstantMap CollectConstants(const onnx::GraphProto& graph, const std::string& path);
// The one graph input that is not a constant, and its dims (batch first, -1 if symbolic).
const onnx::ValueInfoProto& FindInput(const onnx::GraphProto& graph, const ConstantMap& constants,
                                      const std::string& path, std::vector<int64_t>* dims);
// "node 'NAME' (OpType)", for messages.
std::string NodePlace(const onnx::GraphProto& graph, int index);

// Calls `visit` on each node of the chain from tensor `input` to the graph's one output, in order;
// each node reads the chain's tensor once and constants otherwise. Constant nodes and the nodes
// marked in `folded` (when given: nodes the caller turned into constants) are not on the chain.
// Throws BadInput naming the node that branches, merges or is left over.
void WalkChain(const onnx::GraphProto& graph, const ConstantMap& constants,
               const std::string& input, const std::string& path, const std::vector<bool>* folded,
               const std::function<void(const OpNode&)>& visit);

}  // namespace onnx_import
}  // namespace qrepair
