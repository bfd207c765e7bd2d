// The ONNX operator dispatch, the helpers every operator file shares, and the operators that only
// reshape, activate or do nothing (Flatten, Reshape, Relu, LeakyRelu, Sigmoid, Identity, Dropout,
// all-zero Pad).
#include "io/onnx_ops.h"

#include <onnx/onnx_pb.h>

#include <climits>

namespace qrepair {
namespace onnx_import {

Error NodeError(const ImportState& state, const OpNode& node, const std::string& message) {
  return BadInput(state.path, "node '" + node.label + "' (" + node.proto->op_type() + ")", message);
}

namespace {

const onnx::AttributeProto* FindAttribute(const ImportState& state, const OpNode& node,
                                          const char* name, int type) {
  for (const auto& attr : node.proto->attribute()) {
    if (attr.name() != name) continue;
    if (attr.type() != type) {
      throw NodeError(state, node,
                      std::string("attribute '") + name + "' has type " +
                          onnx::AttributeProto::AttributeType_Name(attr.type()) + ", expected " +
                          onnx::AttributeProto::AttributeType_Name(
                              static_cast<onnx::AttributeProto::AttributeType>(type)));
    }
    return &attr;
  }
  return nullptr;
}

}  // namespace

int64_t IntAttr(const ImportState& state, const OpNode& node, const char* name, int64_t fallback) {
  const auto* attr = FindAttribute(state, node, name, onnx::AttributeProto::INT);
  return attr ? attr->i() : fallback;
}

float FloatAttr(const ImportState& state, const OpNode& node, const char* name, float fallback) {
  const auto* attr = FindAttribute(state, node, name, onnx::AttributeProto::FLOAT);
  return attr ? attr->f() : fallback;
}

std::vector<int64_t> IntsAttr(const ImportState& state, const OpNode& node, const char* name,
                              const std::vector<int64_t>& fallback) {
  const auto* attr = FindAttribute(state, node, name, onnx::AttributeProto::INTS);
  return attr ? std::vector<int64_t>(attr->ints().begin(), attr->ints().end()) : fallback;
}

std::string StringAttr(const ImportState& state, const OpNode& node, const char* name,
                       const std::string& fallback) {
  const auto* attr = FindAttribute(state, node, name, onnx::AttributeProto::STRING);
  return attr ? attr->s() : fallback;
}

const ConstTensor* ConstInput(const ImportState& state, const OpNode& node, int index,
                              const char* role, bool required) {
  if (index >= node.proto->input_size() || node.proto->input(index).empty()) {
    if (required) throw NodeError(state, node, std::string("input ") + role + " is missing");
    return nullptr;
  }
  const std::string& name = node.proto->input(index);
  auto it = state.constants->find(name);
  if (it == state.constants->end()) {
    throw NodeError(state, node,
                    std::string("input ") + role + " ('" + name +
                        "') must be a constant (an initializer or a Constant node)");
  }
  return &it->second;
}

const std::vector<float>& FloatValues(const ImportState& state, const OpNode& node,
                                      const ConstTensor& tensor, const char* role) {
  if (!tensor.is_float) {
    throw NodeError(state, node,
                    std::string("input ") + role + " is an integer tensor, expected FLOAT");
  }
  return tensor.floats;
}

std::vector<float> BroadcastToSample(const ImportState& state, const OpNode& node,
                                     const ConstTensor& tensor, const std::vector<int64_t>& dims,
                                     const char* role) {
  const std::vector<float>& values = FloatValues(state, node, tensor, role);
  size_t rank = dims.size(), crank = tensor.dims.size();
  auto mismatch = [&] {
    return NodeError(state, node,
                     std::string("constant ") + role + " is " + DimsToString(tensor.dims) +
                         ", expected a shape that broadcasts to one sample of " +
                         DimsToString(dims) + " (one value, or one per channel or element)");
  };
  if (crank > rank) throw mismatch();
  // stride[a]: how far the constant's index moves per step along sample axis a (0 = broadcast).
  std::vector<int64_t> stride(rank, 0);
  int64_t step = 1;
  for (size_t k = 0; k < crank; ++k) {
    size_t c_axis = crank - 1 - k, axis = rank - 1 - k;
    int64_t d = tensor.dims[c_axis];
    if (d != 1 && (axis == 0 || d != dims[axis])) throw mismatch();
    if (d != 1) stride[axis] = step;
    step *= d;
  }
  if (values.size() == 1) return values;
  int64_t size = 1;
  for (size_t a = 1; a < rank; ++a) size *= dims[a];
  std::vector<float> out(static_cast<size_t>(size));
  std::vector<int64_t> index(rank, 0);
  for (int64_t p = 0; p < size; ++p) {
    int64_t source = 0;
    for (size_t a = 1; a < rank; ++a) source += index[a] * stride[a];
    out[p] = values[source];
    for (size_t a = rank - 1; a >= 1; --a) {  // odometer over the sample's axes
      if (++index[a] < dims[a]) break;
      index[a] = 0;
    }
  }
  return out;
}

bool ShapeOfDims(const std::vector<int64_t>& dims, Shape* shape) {
  for (size_t a = 1; a < dims.size(); ++a) {
    if (dims[a] <= 0 || dims[a] > INT_MAX) return false;
  }
  auto d = [&](size_t a) { return static_cast<int>(dims[a]); };
  switch (dims.size()) {
    case 2:
      *shape = Shape{d(1), 1, 1};
      return true;
    case 3:
      *shape = Shape{d(1), 1, d(2)};
      return true;
    case 4:
      *shape = Shape{d(1), d(2), d(3)};
      return true;
    default:
      return false;
  }
}

void Emit(ImportState& state, Layer layer) {
  layer.input_shape = state.shape;
  state.shape = InferOutputShape(layer, state.shape, state.path);
  layer.output_shape = state.shape;
  state.network.layers.push_back(std::move(layer));
}

void FlattenIfNeeded(ImportState& state, const std::string& name) {
  if (state.shape.height == 1 && state.shape.width == 1) return;
  Layer layer;
  layer.kind = LayerKind::kFlatten;
  layer.name = name;
  Emit(state, std::move(layer));
}

void ImportFlatten(const OpNode& node, ImportState& state) {
  const auto& dims = state.dims;
  int64_t rank = static_cast<int64_t>(dims.size());
  int64_t axis = IntAttr(state, node, "axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) {
    throw NodeError(state, node,
                    "axis " + std::to_string(IntAttr(state, node, "axis", 1)) +
                        " is out of range for a rank-" + std::to_string(rank) + " input");
  }
  // Per-sample semantics hold only if everything before `axis` is the batch dimension.
  if (axis == 0 && dims[0] != 1) {
    throw NodeError(state, node, "axis=0 would merge the samples of a batch; expected axis=1");
  }
  for (int64_t a = 1; a < axis; ++a) {
    if (dims[a] != 1) {
      throw NodeError(state, node,
                      "axis=" + std::to_string(axis) + " merges dimension " + std::to_string(a) +
                          " (size " + std::to_string(dims[a]) +
                          ") into the batch; expected axis=1");
    }
  }
  FlattenIfNeeded(state, node.label);
  state.dims = {dims[0], state.shape.Size()};
}

void ImportReshape(const OpNode& node, ImportState& state) {
  const ConstTensor& target_tensor = *ConstInput(state, node, 1, "shape", true);
  if (target_tensor.is_float || target_tensor.dims.size() != 1 || target_tensor.ints.empty()) {
    throw NodeError(state, node, "input shape must be a non-empty 1-D INT64 tensor");
  }
  const std::vector<int64_t>& target = target_tensor.ints;
  const std::string wanted = ListToString(target);
  const int64_t sample = state.shape.Size();
  const int64_t batch = state.dims[0];  // -1 when symbolic
  const bool allow_zero = IntAttr(state, node, "allowzero", 0) != 0;
  auto refuse = [&] {
    return NodeError(state, node,
                     "shape " + wanted + " does not keep each sample's " + std::to_string(sample) +
                         " elements together; expected a flattening shape such as [-1, " +
                         std::to_string(sample) + "]");
  };
  std::vector<int64_t> rest;  // the per-sample dims after the reshape
  if (target.size() == 1) {   // drops the batch dimension: fine for a batch of one
    if ((target[0] != -1 && target[0] != sample) || batch > 1) throw refuse();
    rest = {sample};
  } else {
    int unknown = 0;
    int64_t known = 1;
    for (size_t a = 1; a < target.size(); ++a) {
      int64_t d = target[a];
      if (d == 0 && !allow_zero && a < state.dims.size()) d = state.dims[a];
      if (d == -1) {
        ++unknown;
      } else if (d <= 0 || d > sample) {
        throw refuse();
      } else {
        known *= d;
        if (known > sample) throw refuse();
      }
      rest.push_back(d);
    }
    bool batch_kept = (target[0] == 0 && !allow_zero) || (target[0] == -1 && unknown == 0) ||
                      (target[0] > 0 && (target[0] == batch || (target[0] == 1 && batch == -1)));
    if (unknown == 1 && sample % known == 0) {
      for (int64_t& d : rest) d = d == -1 ? sample / known : d;
      known = sample;
    }
    if (!batch_kept || unknown > 1 || known != sample || rest.size() > 3) throw refuse();
  }
  std::vector<int64_t> new_dims = {batch};
  new_dims.insert(new_dims.end(), rest.begin(), rest.end());
  Shape new_shape;
  if (!ShapeOfDims(new_dims, &new_shape)) throw refuse();
  if (new_shape != state.shape) {
    if (new_shape.height != 1 || new_shape.width != 1) {
      throw NodeError(state, node,
                      "reshaping " + state.shape.ToString() + " to " + new_shape.ToString() +
                          " is not a flatten; only flattening reshapes are supported");
    }
    FlattenIfNeeded(state, node.label);
  }
  state.dims = new_dims;
}

namespace {

void ImportActivation(const OpNode& node, ImportState& state) {
  Layer layer;
  layer.name = node.label;
  const std::string& op = node.proto->op_type();
  if (op == "Relu") {
    layer.kind = LayerKind::kRelu;
  } else if (op == "Sigmoid") {
    layer.kind = LayerKind::kSigmoid;
  } else {
    layer.kind = LayerKind::kLeakyRelu;
    layer.alpha = FloatAttr(state, node, "alpha", 0.01f);
  }
  Emit(state, std::move(layer));
}

void ImportDropout(const OpNode& node, ImportState& state) {
  const ConstTensor* training = ConstInput(state, node, 2, "training_mode", false);
  bool on =
      training && ((training->is_float && !training->floats.empty() && training->floats[0] != 0) ||
                   (!training->is_float && !training->ints.empty() && training->ints[0]));
  if (on) throw NodeError(state, node, "training_mode is true; expected inference mode");
}

// torch puts an all-zero Pad before AveragePool(count_include_pad=True); that one is a no-op.
void ImportPad(const OpNode& node, ImportState& state) {
  std::vector<int64_t> pads;
  if (const ConstTensor* p = ConstInput(state, node, 1, "pads", false)) {
    if (p->is_float) throw NodeError(state, node, "input pads must be an INT64 tensor");
    pads = p->ints;
  } else {
    pads = IntsAttr(state, node, "pads", {});  // before opset 11
  }
  for (int64_t v : pads) {
    if (v != 0) {
      throw NodeError(state, node,
                      "pads " + ListToString(pads) +
                          " are not all zero; only a no-op Pad is supported (expected the "
                          "padding in the Conv or pool's own pads)");
    }
  }
}

struct OpInfo {
  const char* op;
  int min_inputs, max_inputs;
  void (*import)(const OpNode&, ImportState&);
};

const OpInfo kOps[] = {
    {"Gemm", 2, 3, ImportGemm},
    {"MatMul", 2, 2, ImportMatMul},
    {"Conv", 2, 3, ImportConv},
    {"MaxPool", 1, 1, ImportPool},
    {"AveragePool", 1, 1, ImportPool},
    {"GlobalMaxPool", 1, 1, ImportPool},
    {"GlobalAveragePool", 1, 1, ImportPool},
    {"Add", 2, 2, ImportElementwise},
    {"Sub", 2, 2, ImportElementwise},
    {"Mul", 2, 2, ImportElementwise},
    {"Div", 2, 2, ImportElementwise},
    {"Flatten", 1, 1, ImportFlatten},
    {"Reshape", 2, 2, ImportReshape},
    {"Relu", 1, 1, ImportActivation},
    {"LeakyRelu", 1, 1, ImportActivation},
    {"Sigmoid", 1, 1, ImportActivation},
    {"Identity", 1, 1, [](const OpNode&, ImportState&) {}},
    {"Dropout", 1, 3, ImportDropout},
    {"Pad", 1, 4, ImportPad},
};

}  // namespace

void ImportNode(const OpNode& node, ImportState& state) {
  const onnx::NodeProto& proto = *node.proto;
  if (!proto.domain().empty() && proto.domain() != "ai.onnx") {
    throw NodeError(state, node,
                    "operator domain '" + proto.domain() + "' is not supported; expected ai.onnx");
  }
  for (const OpInfo& info : kOps) {
    if (proto.op_type() != info.op) continue;
    if (proto.input_size() < info.min_inputs || proto.input_size() > info.max_inputs) {
      throw NodeError(
          state, node,
          "has " + std::to_string(proto.input_size()) + " inputs, expected " +
              std::to_string(info.min_inputs) +
              (info.max_inputs > info.min_inputs ? " to " + std::to_string(info.max_inputs)
                                                 : std::string()));
    }
    info.import(node, state);
    return;
  }
  std::string supported;
  for (const OpInfo& info : kOps) supported += std::string(supported.empty() ? "" : ", ") + info.op;
  throw NodeError(
      state, node,
      "operator " + proto.op_type() + " is not supported; expected one of " + supported);
}

}  // namespace onnx_import
}  // namespace qrepair
