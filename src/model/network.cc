// Shape inference and validation of the float network.
#include "qrepair/model/network.h"

#include <cmath>

#include "qrepair/error.h"

namespace qrepair {

std::string Shape::ToString() const {
  return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
}

bool Window::operator==(const Window& o) const {
  return kernel_h == o.kernel_h && kernel_w == o.kernel_w && stride_h == o.stride_h &&
         stride_w == o.stride_w && pad_top == o.pad_top && pad_left == o.pad_left &&
         pad_bottom == o.pad_bottom && pad_right == o.pad_right;
}

const char* LayerKindName(LayerKind kind) {
  switch (kind) {
    case LayerKind::kDense:
      return "dense";
    case LayerKind::kConv2d:
      return "conv2d";
    case LayerKind::kRelu:
      return "relu";
    case LayerKind::kLeakyRelu:
      return "leaky_relu";
    case LayerKind::kSigmoid:
      return "sigmoid";
    case LayerKind::kMaxPool:
      return "max_pool";
    case LayerKind::kAvgPool:
      return "avg_pool";
    case LayerKind::kFlatten:
      return "flatten";
    case LayerKind::kNormalize:
      return "normalize";
  }
  return "unknown";
}

int64_t Layer::FanIn() const {
  if (kind == LayerKind::kDense) return input_shape.Size();
  if (kind == LayerKind::kConv2d) {
    return int64_t{input_shape.channels} * window.kernel_h * window.kernel_w;
  }
  return 0;
}

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 28;  // refuse absurd tensors before allocating

int WindowOutput(int in, int kernel, int stride, int pad_a, int pad_b, const std::string& source,
                 const Layer& layer, const char* axis) {
  std::string where = "layer '" + layer.name + "' (" + LayerKindName(layer.kind) + ")";
  if (kernel <= 0 || stride <= 0 || pad_a < 0 || pad_b < 0) {
    throw BadInput(source, where,
                   std::string("kernel and stride must be positive and padding >= 0 on ") + axis);
  }
  int64_t span = int64_t{in} + pad_a + pad_b - kernel;
  if (span < 0) {
    throw BadInput(source, where,
                   std::string("kernel ") + std::to_string(kernel) + " is larger than the padded " +
                       axis + " " + std::to_string(int64_t{in} + pad_a + pad_b));
  }
  return static_cast<int>(span / stride + 1);
}

}  // namespace

Shape InferOutputShape(const Layer& layer, const Shape& in, const std::string& source) {
  std::string where = "layer '" + layer.name + "' (" + LayerKindName(layer.kind) + ")";
  switch (layer.kind) {
    case LayerKind::kDense: {
      int64_t out = static_cast<int64_t>(layer.bias.size());
      if (out <= 0) throw BadInput(source, where, "dense layer has no output units");
      if (static_cast<int64_t>(layer.weights.size()) != out * in.Size()) {
        throw BadInput(source, where,
                       "weight has " + std::to_string(layer.weights.size()) + " values, expected " +
                           std::to_string(out) + "x" + std::to_string(in.Size()) +
                           " from the previous layer's output " + in.ToString());
      }
      return Shape{static_cast<int>(out), 1, 1};
    }
    case LayerKind::kConv2d: {
      const Window& w = layer.window;
      int64_t out_c = static_cast<int64_t>(layer.bias.size());
      if (out_c <= 0) throw BadInput(source, where, "convolution has no output channels");
      int64_t expected = out_c * in.channels * int64_t{w.kernel_h} * w.kernel_w;
      if (w.kernel_h <= 0 || w.kernel_w <= 0 ||
          static_cast<int64_t>(layer.weights.size()) != expected) {
        throw BadInput(source, where,
                       "weight has " + std::to_string(layer.weights.size()) + " values, expected " +
                           std::to_string(out_c) + "x" + std::to_string(in.channels) + "x" +
                           std::to_string(w.kernel_h) + "x" + std::to_string(w.kernel_w));
      }
      Shape out{static_cast<int>(out_c),
                WindowOutput(in.height, w.kernel_h, w.stride_h, w.pad_top, w.pad_bottom, source,
                             layer, "height"),
                WindowOutput(in.width, w.kernel_w, w.stride_w, w.pad_left, w.pad_right, source,
                             layer, "width")};
      return out;
    }
    case LayerKind::kMaxPool:
    case LayerKind::kAvgPool: {
      const Window& w = layer.window;
      if (w.pad_top >= w.kernel_h || w.pad_bottom >= w.kernel_h || w.pad_left >= w.kernel_w ||
          w.pad_right >= w.kernel_w) {
        throw BadInput(source, where, "padding must be smaller than the kernel");
      }
      return Shape{in.channels,
                   WindowOutput(in.height, w.kernel_h, w.stride_h, w.pad_top, w.pad_bottom, source,
                                layer, "height"),
                   WindowOutput(in.width, w.kernel_w, w.stride_w, w.pad_left, w.pad_right, source,
                                layer, "width")};
    }
    case LayerKind::kFlatten:
      return Shape{static_cast<int>(in.Size()), 1, 1};
    case LayerKind::kNormalize: {
      for (const auto* v : {&layer.offset, &layer.divisor}) {
        if (v->size() != 1 && static_cast<int64_t>(v->size()) != in.Size()) {
          throw BadInput(source, where,
                         "normalization constant has " + std::to_string(v->size()) +
                             " values, expected 1 or " + std::to_string(in.Size()));
        }
      }
      for (float d : layer.divisor) {
        if (d == 0.0f) throw BadInput(source, where, "division by zero in input normalization");
      }
      return in;
    }
    case LayerKind::kRelu:
    case LayerKind::kLeakyRelu:
    case LayerKind::kSigmoid:
      return in;
  }
  throw InternalError("unknown layer kind");
}

void ValidateNetwork(Network& network, const std::string& source) {
  if (network.layers.empty()) throw BadInput(source, "", "the network has no layers");
  if (network.input_shape.channels <= 0 || network.input_shape.height <= 0 ||
      network.input_shape.width <= 0 || network.input_shape.Size() > kMaxElements) {
    throw BadInput(source, "input",
                   "input shape " + network.input_shape.ToString() +
                       " must have positive dimensions and at most 2^28 elements");
  }
  Shape shape = network.input_shape;
  for (Layer& layer : network.layers) {
    std::string where = "layer '" + layer.name + "' (" + LayerKindName(layer.kind) + ")";
    for (const auto* values : {&layer.weights, &layer.bias, &layer.offset, &layer.divisor}) {
      for (float v : *values) {
        if (!std::isfinite(v)) throw BadInput(source, where, "parameter is NaN or infinite");
      }
    }
    if (!std::isfinite(layer.alpha)) throw BadInput(source, where, "alpha is NaN or infinite");
    layer.input_shape = shape;
    shape = InferOutputShape(layer, shape, source);
    if (shape.Size() <= 0 || shape.Size() > kMaxElements) {
      throw BadInput(source, where, "output shape " + shape.ToString() + " is empty or too large");
    }
    layer.output_shape = shape;
  }
}

int Network::LastLinearLayer() const {
  for (int i = static_cast<int>(layers.size()) - 1; i >= 0; --i) {
    if (layers[i].IsLinear()) return i;
  }
  return -1;
}

void OrientForDecision(Network& network, Decision decision, const std::string& source) {
  if (network.outputs_negated == (decision == Decision::kArgmin)) return;
  const int last = network.LastLinearLayer();
  if (last < 0) throw BadInput(source, "", "\"decision\": \"argmin\" needs a linear output layer");
  for (size_t i = last + 1; i < network.layers.size(); ++i) {
    const Layer& l = network.layers[i];
    if (l.kind != LayerKind::kFlatten) {
      throw BadInput(source, "layer " + std::to_string(i) + " '" + l.name + "'",
                     std::string("\"decision\": \"argmin\" negates the last linear layer, and ") +
                         LayerKindName(l.kind) + " after it would not commute with that");
    }
  }
  Layer& l = network.layers[last];
  for (float& w : l.weights) w = -w;
  for (float& b : l.bias) b = -b;
  network.outputs_negated = !network.outputs_negated;
}

}  // namespace qrepair
