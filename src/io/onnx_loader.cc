// LoadOnnx: reads an ONNX model whose graph is a single chain of nodes from one input to one
// output, and hands the nodes in order to onnx_ops.cc. Branches, merges and extra inputs are
// refused with the node that causes them.
#include <onnx/onnx_pb.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "io/onnx_graph.h"
#include "io/onnx_ops.h"
#include "qrepair/io/model_loader.h"

namespace qrepair {
namespace onnx_import {

namespace {

namespace fs = std::filesystem;

// Numpy-style broadcasting of Add/Sub/Mul/Div, which the loader relies on, exists since opset 7.
constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxModelBytes = (int64_t{1} << 31) - 1;  // protobuf cannot parse more

std::string ReadModelBytes(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw BadInput(path, "", "is a directory, expected a model");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput(path, "", std::string("cannot open: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw BadInput(path, "", "cannot read the file");
  if (size > kMaxModelBytes) {
    throw BadInput(path, "", "is larger than 2 GiB; expected the weights in external data");
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) throw BadInput(path, "", "cannot read the file");
  return bytes;
}

std::string NodeLabel(const onnx::NodeProto& node, int index) {
  return node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
}

}  // namespace

std::string NodePlace(const onnx::GraphProto& graph, int index) {
  const onnx::NodeProto& node = graph.node(index);
  return "node '" + NodeLabel(node, index) + "' (" + node.op_type() + ")";
}

onnx::ModelProto ReadModel(const std::string& path) {
  const std::string bytes = ReadModelBytes(path);
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) {
    throw BadInput(path, "", "is not a valid ONNX model (the protobuf is truncated or corrupt)");
  }
  return model;
}

void CheckOpset(const onnx::ModelProto& model, const std::string& path) {
  int64_t version = -1;
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") version = opset.version();
  }
  if (version < 0) throw BadInput(path, "opset_import", "no ai.onnx opset is imported");
  if (version < kMinOpset) {
    throw BadInput(path, "opset_import",
                   "opset " + std::to_string(version) + " is too old; expected opset " +
                       std::to_string(kMinOpset) + " or later");
  }
}

ConstantMap CollectConstants(const onnx::GraphProto& graph, const std::string& path) {
  ConstantMap constants;
  for (const auto& init : graph.initializer()) {
    constants[init.name()] = DecodeTensor(init, path, "initializer '" + init.name() + "'");
  }
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto& node = graph.node(i);
    if (node.op_type() != "Constant") continue;
    if (node.output_size() != 1 || node.attribute_size() != 1) {
      throw BadInput(path, NodePlace(graph, i), "expected one output and one value attribute");
    }
    const onnx::AttributeProto& attr = node.attribute(0);
    ConstTensor t;
    if (attr.name() == "value" && attr.has_t()) {
      t = DecodeTensor(attr.t(), path, NodePlace(graph, i));
    } else if (attr.name() == "value_float") {
      t.is_float = true;
      t.floats = {attr.f()};
    } else if (attr.name() == "value_floats") {
      t.is_float = true;
      t.floats.assign(attr.floats().begin(), attr.floats().end());
      t.dims = {attr.floats_size()};
    } else if (attr.name() == "value_int") {
      t.ints = {attr.i()};
    } else if (attr.name() == "value_ints") {
      t.ints.assign(attr.ints().begin(), attr.ints().end());
      t.dims = {attr.ints_size()};
    } else {
      throw BadInput(path, NodePlace(graph, i),
                     "attribute '" + attr.name() +
                         "' is not supported; expected value, value_float(s) or value_int(s)");
    }
    constants[node.output(0)] = std::move(t);
  }
  return constants;
}

const onnx::ValueInfoProto& FindInput(const onnx::GraphProto& graph, const ConstantMap& constants,
                                      const std::string& path, std::vector<int64_t>* dims) {
  std::vector<const onnx::ValueInfoProto*> inputs;
  std::string names;
  for (const auto& info : graph.input()) {
    if (constants.count(info.name())) continue;
    inputs.push_back(&info);
    names += (names.empty() ? "'" : ", '") + info.name() + "'";
  }
  if (inputs.size() != 1) {
    throw BadInput(path, "graph inputs",
                   "found " + std::to_string(inputs.size()) + " inputs that are not initializers" +
                       (names.empty() ? "" : " (" + names + ")") + ", expected exactly one");
  }
  const onnx::ValueInfoProto& info = *inputs[0];
  const std::string place = "input '" + info.name() + "'";
  const auto& tensor = info.type().tensor_type();
  if (!info.type().has_tensor_type() || (tensor.elem_type() != onnx::TensorProto::FLOAT &&
                                         tensor.elem_type() != onnx::TensorProto::DOUBLE)) {
    throw BadInput(path, place, "expected a FLOAT tensor");
  }
  if (!tensor.has_shape()) throw BadInput(path, place, "has no shape; expected fixed dims");
  dims->clear();
  for (int j = 0; j < tensor.shape().dim_size(); ++j) {
    const auto& dim = tensor.shape().dim(j);
    int64_t value = dim.has_dim_value() ? dim.dim_value() : -1;
    if (j == 0 && value <= 0) value = -1;  // symbolic batch
    if (j > 0 && value <= 0) {
      throw BadInput(path, place,
                     "dimension " + std::to_string(j) +
                         " is symbolic or not positive; only the batch dimension may be");
    }
    dims->push_back(value);
  }
  Shape shape;
  if (!ShapeOfDims(*dims, &shape) ||
      CheckedElementCount({shape.channels, shape.height, shape.width}) < 0) {
    throw BadInput(path, place,
                   "has dims " + DimsToString(*dims) +
                       "; expected [batch, features], [batch, channels, width] or "
                       "[batch, channels, height, width] with at most 2^28 elements");
  }
  return info;
}

void WalkChain(const onnx::GraphProto& graph, const ConstantMap& constants,
               const std::string& input, const std::string& path, const std::vector<bool>* folded,
               const std::function<void(const OpNode&)>& visit) {
  if (graph.output_size() != 1) {
    throw BadInput(path, "graph outputs",
                   "found " + std::to_string(graph.output_size()) + ", expected exactly one");
  }
  const std::string& output = graph.output(0).name();
  auto off_chain = [&](int i) {
    return graph.node(i).op_type() == "Constant" || (folded && (*folded)[i]);
  };

  // Which nodes read each non-constant tensor.
  std::map<std::string, std::vector<int>> readers;
  for (int i = 0; i < graph.node_size(); ++i) {
    if (off_chain(i)) continue;
    for (const std::string& name : graph.node(i).input()) {
      std::vector<int>& r = readers[name];
      if (!name.empty() && !constants.count(name) && (r.empty() || r.back() != i)) r.push_back(i);
    }
  }

  std::vector<bool> done(graph.node_size(), false);
  std::string current = input;
  while (current != output) {
    const std::vector<int>& users = readers[current];
    if (users.empty()) {
      throw BadInput(path, "tensor '" + current + "'",
                     "is read by no node and is not the graph output '" + output +
                         "'; expected a single chain from input to output");
    }
    if (users.size() > 1) {
      throw BadInput(path, NodePlace(graph, users[1]),
                     "reads tensor '" + current + "' that " + NodePlace(graph, users[0]) +
                         " also reads; expected a single chain (no branches)");
    }
    const int i = users[0];
    const onnx::NodeProto& node = graph.node(i);
    if (done[i]) {
      throw BadInput(path, NodePlace(graph, i), "is reached twice; the graph has a cycle");
    }
    done[i] = true;
    OpNode op{&node, NodeLabel(node, i), -1};
    for (int k = 0; k < node.input_size(); ++k) {
      const std::string& name = node.input(k);
      if (name.empty() || (name != current && constants.count(name))) continue;
      if (name != current || op.data_input >= 0) {
        throw BadInput(path, NodePlace(graph, i),
                       "input '" + name +
                           "' is not a constant; expected the previous node's output once and "
                           "constants otherwise (a single chain, no merges)");
      }
      op.data_input = k;
    }
    if (node.output_size() < 1 || node.output(0).empty()) {
      throw BadInput(path, NodePlace(graph, i), "has no output");
    }
    for (int k = 1; k < node.output_size(); ++k) {
      const std::string& extra = node.output(k);
      if (!extra.empty() && (!readers[extra].empty() || extra == output)) {
        throw BadInput(path, NodePlace(graph, i),
                       "output '" + extra + "' is used; only a node's first output may be");
      }
    }
    visit(op);
    current = node.output(0);
  }
  if (!readers[output].empty()) {
    throw BadInput(path, NodePlace(graph, readers[output][0]),
                   "reads the graph output '" + output + "'; expected the output to end the chain");
  }
  for (int i = 0; i < graph.node_size(); ++i) {
    if (!done[i] && !off_chain(i)) {
      throw BadInput(path, NodePlace(graph, i),
                     "is not on the chain from input '" + input + "' to output '" + output +
                         "'; expected a single chain");
    }
  }
}

}  // namespace onnx_import

Network LoadOnnx(const std::string& path) {
  const onnx::ModelProto model = onnx_import::ReadModel(path);
  const onnx::GraphProto& graph = model.graph();
  if (graph.node_size() == 0) throw BadInput(path, "graph", "has no nodes; expected an ONNX model");
  onnx_import::CheckOpset(model, path);
  const onnx_import::ConstantMap constants = onnx_import::CollectConstants(graph, path);

  onnx_import::ImportState state;
  state.path = path;
  state.constants = &constants;
  const std::string input = onnx_import::FindInput(graph, constants, path, &state.dims).name();
  onnx_import::ShapeOfDims(state.dims, &state.shape);
  state.network.name = std::filesystem::path(path).stem().string();
  state.network.input_shape = state.shape;
  onnx_import::WalkChain(graph, constants, input, path, nullptr,
                         [&](const onnx_import::OpNode& op) { ImportNode(op, state); });
  Network network = std::move(state.network);
  ValidateNetwork(network, path);
  return network;
}

}  // namespace qrepair
