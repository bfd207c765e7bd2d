// ONNX operators that become weighted or windowed layers: Gemm and MatMul (dense), Conv, and the
// max and average pools. Weights are checked against the chain's shape before they are copied.
#include <onnx/onnx_pb.h>

#include <algorithm>

#include "io/onnx_ops.h"

namespace qrepair {
namespace onnx_import {

namespace {

constexpr int64_t kMaxWindow = int64_t{1} << 20;  // keeps window arithmetic inside int

void RequireImage(const ImportState& state, const OpNode& node) {
  if (state.dims.size() != 4) {
    throw NodeError(
        state, node,
        "expects a 4-D input (batch, channels, height, width), found " + DimsToString(state.dims));
  }
}

void RequireNoDilation(const ImportState& state, const OpNode& node) {
  for (int64_t d : IntsAttr(state, node, "dilations", {})) {
    if (d != 1) throw NodeError(state, node, "dilations must all be 1");
  }
}

std::vector<int64_t> PairAttr(const ImportState& state, const OpNode& node, const char* name,
                              const std::vector<int64_t>& fallback, size_t count, int64_t low) {
  std::vector<int64_t> values = IntsAttr(state, node, name, fallback);
  bool ok = values.size() == count;
  for (int64_t v : values) ok = ok && v >= low && v <= kMaxWindow;
  if (!ok) {
    throw NodeError(state, node,
                    std::string(name) +
                        (values.empty() ? " is missing" : " is " + ListToString(values)) +
                        ", expected " + std::to_string(count) + " values between " +
                        std::to_string(low) + " and " + std::to_string(kMaxWindow));
  }
  return values;
}

// Strides and padding of a 2-D window, explicit or from auto_pad.
Window ReadWindow(const ImportState& state, const OpNode& node, int64_t kernel_h,
                  int64_t kernel_w) {
  if (kernel_h < 1 || kernel_w < 1 || kernel_h > kMaxWindow || kernel_w > kMaxWindow) {
    throw NodeError(state, node,
                    "kernel " + std::to_string(kernel_h) + "x" + std::to_string(kernel_w) +
                        " is empty or too large");
  }
  Window w;
  w.kernel_h = static_cast<int>(kernel_h);
  w.kernel_w = static_cast<int>(kernel_w);
  std::vector<int64_t> strides = PairAttr(state, node, "strides", {1, 1}, 2, 1);
  w.stride_h = static_cast<int>(strides[0]);
  w.stride_w = static_cast<int>(strides[1]);
  std::string auto_pad = StringAttr(state, node, "auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    std::vector<int64_t> pads = PairAttr(state, node, "pads", {0, 0, 0, 0}, 4, 0);
    w.pad_top = static_cast<int>(pads[0]);  // ONNX order: begins (h, w), then ends (h, w)
    w.pad_left = static_cast<int>(pads[1]);
    w.pad_bottom = static_cast<int>(pads[2]);
    w.pad_right = static_cast<int>(pads[3]);
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    // Output ceil(in / stride); the odd padding cell goes at the end (UPPER) or start (LOWER).
    auto same = [&](int in, int kernel, int stride, int* begin, int* end) {
      int64_t out = (int64_t{in} + stride - 1) / stride;
      int64_t total = std::max<int64_t>(0, (out - 1) * stride + kernel - in);
      int small = static_cast<int>(total / 2), big = static_cast<int>(total - total / 2);
      *begin = auto_pad == "SAME_UPPER" ? small : big;
      *end = auto_pad == "SAME_UPPER" ? big : small;
    };
    same(state.shape.height, w.kernel_h, w.stride_h, &w.pad_top, &w.pad_bottom);
    same(state.shape.width, w.kernel_w, w.stride_w, &w.pad_left, &w.pad_right);
  } else if (auto_pad != "VALID") {
    throw NodeError(state, node,
                    "auto_pad '" + auto_pad +
                        "' is not supported; expected NOTSET, VALID, SAME_UPPER or SAME_LOWER");
  }
  return w;
}

void UpdateImageDims(ImportState& state) {
  state.dims = {state.dims[0], state.shape.channels, state.shape.height, state.shape.width};
}

void EmitDense(const OpNode& node, ImportState& state, std::vector<float> weights,
               std::vector<float> bias) {
  int64_t out = static_cast<int64_t>(bias.size());
  FlattenIfNeeded(state, node.label + "_flatten");  // x @ W on an image reads it flattened
  Layer layer;
  layer.kind = LayerKind::kDense;
  layer.name = node.label;
  layer.weights = std::move(weights);
  layer.bias = std::move(bias);
  Emit(state, std::move(layer));
  state.dims = {state.dims[0], out};
}

std::string InOut(const std::string& a, const std::string& b) { return a + "x" + b; }

}  // namespace

void ImportGemm(const OpNode& node, ImportState& state) {
  if (node.data_input != 0) {
    throw NodeError(state, node, "the network's tensor must be input A of A x B");
  }
  if (IntAttr(state, node, "transA", 0) != 0) {
    throw NodeError(state, node, "transA=1 is not supported; expected transA=0");
  }
  const bool trans_b = IntAttr(state, node, "transB", 0) != 0;
  const float alpha = FloatAttr(state, node, "alpha", 1.0f);
  const float beta = FloatAttr(state, node, "beta", 1.0f);
  const ConstTensor& b = *ConstInput(state, node, 1, "B", true);
  const std::vector<float>& bv = FloatValues(state, node, b, "B");
  const int64_t in = state.shape.Size();
  const bool matrix = b.dims.size() == 2;
  const int64_t out = matrix ? b.dims[trans_b ? 0 : 1] : 0;
  if (!matrix || b.dims[trans_b ? 1 : 0] != in) {
    std::string units = matrix ? std::to_string(out) : "N";
    throw NodeError(
        state, node,
        "weight B is " + DimsToString(b.dims) + ", expected " +
            (trans_b ? InOut(units, std::to_string(in)) : InOut(std::to_string(in), units)) +
            " from the previous layer's output " + state.shape.ToString());
  }
  std::vector<float> weights(static_cast<size_t>(out * in));
  for (int64_t u = 0; u < out; ++u) {
    for (int64_t j = 0; j < in; ++j) {
      weights[u * in + j] = alpha * (trans_b ? bv[u * in + j] : bv[j * out + u]);
    }
  }
  std::vector<float> bias(static_cast<size_t>(out), 0.0f);
  if (const ConstTensor* c = ConstInput(state, node, 2, "C", false)) {
    std::vector<float> cv = BroadcastToSample(state, node, *c, {1, out}, "C");
    for (int64_t u = 0; u < out; ++u) bias[u] = beta * cv[cv.size() == 1 ? 0 : u];
  }
  EmitDense(node, state, std::move(weights), std::move(bias));
}

void ImportMatMul(const OpNode& node, ImportState& state) {
  if (node.data_input != 0) {
    throw NodeError(state, node, "expected x @ W with a constant W; W @ x is not supported");
  }
  const ConstTensor& w = *ConstInput(state, node, 1, "W", true);
  const std::vector<float>& wv = FloatValues(state, node, w, "W");
  const int64_t in = state.shape.Size();
  if (w.dims.size() != 2 || w.dims[0] != in) {
    throw NodeError(state, node,
                    "weight W is " + DimsToString(w.dims) + ", expected " + std::to_string(in) +
                        "xN from the previous layer's output " + state.shape.ToString());
  }
  const int64_t out = w.dims[1];
  std::vector<float> weights(static_cast<size_t>(out * in));  // ONNX [in, out] -> ours out x in
  for (int64_t u = 0; u < out; ++u) {
    for (int64_t j = 0; j < in; ++j) weights[u * in + j] = wv[j * out + u];
  }
  // A following Add of a constant folds into this zero bias (see onnx_affine_ops.cc).
  EmitDense(node, state, std::move(weights), std::vector<float>(static_cast<size_t>(out), 0.0f));
}

void ImportConv(const OpNode& node, ImportState& state) {
  if (node.data_input != 0) throw NodeError(state, node, "the network's tensor must be input X");
  RequireImage(state, node);
  const int64_t group = IntAttr(state, node, "group", 1);
  if (group != 1) {
    throw NodeError(state, node,
                    "group=" + std::to_string(group) + " is not supported; expected group=1");
  }
  RequireNoDilation(state, node);
  const ConstTensor& w = *ConstInput(state, node, 1, "W", true);
  const int channels = state.shape.channels;
  if (w.dims.size() != 4 || w.dims[1] != channels) {
    throw NodeError(state, node,
                    "weight W is " + DimsToString(w.dims) + ", expected Mx" +
                        std::to_string(channels) + "xKHxKW for the previous layer's output " +
                        state.shape.ToString());
  }
  std::vector<int64_t> kernel = IntsAttr(state, node, "kernel_shape", {w.dims[2], w.dims[3]});
  if (kernel != std::vector<int64_t>{w.dims[2], w.dims[3]}) {
    throw NodeError(state, node,
                    "kernel_shape " + ListToString(kernel) + " does not match weight W " +
                        DimsToString(w.dims));
  }
  Layer layer;
  layer.kind = LayerKind::kConv2d;
  layer.name = node.label;
  layer.window = ReadWindow(state, node, w.dims[2], w.dims[3]);
  layer.weights = FloatValues(state, node, w, "W");
  layer.bias.assign(static_cast<size_t>(w.dims[0]), 0.0f);
  if (const ConstTensor* b = ConstInput(state, node, 2, "B", false)) {
    if (b->dims != std::vector<int64_t>{w.dims[0]}) {
      throw NodeError(state, node,
                      "bias B is " + DimsToString(b->dims) + ", expected " +
                          std::to_string(w.dims[0]) + " (one per output channel)");
    }
    layer.bias = FloatValues(state, node, *b, "B");
  }
  Emit(state, std::move(layer));
  UpdateImageDims(state);
}

void ImportPool(const OpNode& node, ImportState& state) {
  RequireImage(state, node);
  const std::string& op = node.proto->op_type();
  Layer layer;
  layer.kind = op.find("Max") != std::string::npos ? LayerKind::kMaxPool : LayerKind::kAvgPool;
  layer.name = node.label;
  if (op.rfind("Global", 0) == 0) {
    layer.window.kernel_h = state.shape.height;
    layer.window.kernel_w = state.shape.width;
  } else {
    std::vector<int64_t> kernel = PairAttr(state, node, "kernel_shape", {}, 2, 1);
    if (IntAttr(state, node, "ceil_mode", 0) != 0) {
      throw NodeError(state, node, "ceil_mode=1 is not supported; expected ceil_mode=0");
    }
    RequireNoDilation(state, node);
    layer.window = ReadWindow(state, node, kernel[0], kernel[1]);
    const Window& w = layer.window;
    bool padded = w.pad_top || w.pad_left || w.pad_bottom || w.pad_right;
    // With no padding both settings average the same cells, so only padded windows matter.
    if (layer.kind == LayerKind::kAvgPool && padded &&
        IntAttr(state, node, "count_include_pad", 0) != 0) {
      throw NodeError(state, node,
                      "count_include_pad=1 with padding is not supported; expected "
                      "count_include_pad=0 (padding cells are not counted)");
    }
  }
  Emit(state, std::move(layer));
  UpdateImageDims(state);
}

}  // namespace onnx_import
}  // namespace qrepair
