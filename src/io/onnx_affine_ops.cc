// Add, Sub, Mul and Div with a constant, all read as y = (x - offset) / divisor. At the network
// input they become (or merge into) the kNormalize layer; directly after a dense or convolution
// layer they fold into its weights and bias (this is how MatMul + Add becomes one dense layer).
//
// Composition: (((x - o1) / d1) - o2) / d2 = (x - (o1 + o2 d1)) / (d1 d2).
// Folding into z = W x + b:   (z - o) / d = (W / d) x + (b - o) / d, per output unit.
// Sub and Add fold exactly (d = 1); Mul by c becomes a division by 1/c, which may round.
#include <onnx/onnx_pb.h>

#include <algorithm>

#include "io/onnx_ops.h"

namespace qrepair {
namespace onnx_import {

namespace {

// Each vector holds one value (broadcast) or one per element of the sample.
struct Affine {
  std::vector<float> offset;
  std::vector<float> divisor;
};

float At(const std::vector<float>& v, int64_t i) { return v.size() == 1 ? v[0] : v[i]; }

Affine ReadAffine(const OpNode& node, ImportState& state) {
  const std::string& op = node.proto->op_type();
  const bool data_first = node.data_input == 0;
  const ConstTensor& c = *ConstInput(state, node, data_first ? 1 : 0, "constant", true);
  std::vector<float> v = BroadcastToSample(state, node, c, state.dims, "constant");
  Affine a;
  if (op == "Sub") {  // x - c = (x - c) / 1;  c - x = (x - c) / -1
    a.offset = std::move(v);
    a.divisor = {data_first ? 1.0f : -1.0f};
    return a;
  }
  if (op == "Add") {
    for (float& x : v) x = -x;
    a.offset = std::move(v);
    a.divisor = {1.0f};
    return a;
  }
  if (op == "Div" && !data_first) {
    throw NodeError(state, node, "constant / x is not linear; expected x / constant");
  }
  for (float& x : v) {
    if (x == 0.0f) {
      throw NodeError(state, node,
                      op == "Div" ? "divides by zero"
                                  : "multiplies by zero, which no normalization can express");
    }
    if (op == "Mul") x = 1.0f / x;
  }
  a.offset = {0.0f};
  a.divisor = std::move(v);
  return a;
}

void MergeIntoNormalize(const OpNode& node, ImportState& state, const Affine& a) {
  std::vector<Layer>& layers = state.network.layers;
  if (layers.empty() || layers[0].kind != LayerKind::kNormalize) {
    Layer layer;
    layer.kind = LayerKind::kNormalize;
    layer.name = node.label;
    layer.offset = {0.0f};
    layer.divisor = {1.0f};
    layer.input_shape = layer.output_shape = state.network.input_shape;
    layers.insert(layers.begin(), std::move(layer));
  }
  Layer& n = layers[0];
  size_t size = std::max({n.offset.size(), n.divisor.size(), a.offset.size(), a.divisor.size()});
  std::vector<float> offset(size), divisor(size);
  for (size_t i = 0; i < size; ++i) {
    offset[i] = At(n.offset, i) + At(a.offset, i) * At(n.divisor, i);
    divisor[i] = At(n.divisor, i) * At(a.divisor, i);
  }
  n.offset = std::move(offset);
  n.divisor = std::move(divisor);
}

void FoldIntoLinear(const OpNode& node, ImportState& state, const Affine& a, Layer& layer) {
  const int units = layer.Units();
  const int64_t positions = int64_t{layer.output_shape.height} * layer.output_shape.width;
  const int64_t fan_in = layer.FanIn();
  for (int u = 0; u < units; ++u) {
    const int64_t first = u * positions;
    const float o = At(a.offset, first), d = At(a.divisor, first);
    for (int64_t p = 1; p < positions; ++p) {
      if (At(a.offset, first + p) != o || At(a.divisor, first + p) != d) {
        throw NodeError(state, node,
                        "the constant varies inside channel " + std::to_string(u) +
                            ", so it cannot fold into the convolution's per-channel bias");
      }
    }
    for (int64_t j = 0; j < fan_in; ++j) layer.weights[u * fan_in + j] /= d;
    layer.bias[u] = (layer.bias[u] - o) / d;
  }
}

}  // namespace

void ImportElementwise(const OpNode& node, ImportState& state) {
  Affine a = ReadAffine(node, state);
  std::vector<Layer>& layers = state.network.layers;
  bool at_input = std::all_of(layers.begin(), layers.end(), [](const Layer& l) {
    return l.kind == LayerKind::kNormalize || l.kind == LayerKind::kFlatten;
  });
  if (at_input) {
    MergeIntoNormalize(node, state, a);
  } else if (layers.back().IsLinear()) {
    FoldIntoLinear(node, state, a, layers.back());
  } else {
    throw NodeError(state, node,
                    node.proto->op_type() +
                        " with a constant is supported only at the network input or directly "
                        "after a Gemm, MatMul or Conv; here it follows a " +
                        LayerKindName(layers.back().kind) + " layer");
  }
}

}  // namespace onnx_import
}  // namespace qrepair
