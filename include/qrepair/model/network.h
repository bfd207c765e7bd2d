// The float network: a plain sequence of layers that every loader fills and every stage reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qrepair {

// Activations are single samples in CHW order; a dense layer's input is C=n, H=W=1.
struct Shape {
  int channels = 1;
  int height = 1;
  int width = 1;
  int64_t Size() const { return int64_t{channels} * height * width; }
  bool operator==(const Shape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string ToString() const;
};

enum class LayerKind {
  kDense,   // y = W x + b, W is out x in, row-major
  kConv2d,  // y[o] = sum_{i,kh,kw} W[o][i][kh][kw] x[i][..] + b[o]
  kRelu,
  kLeakyRelu,  // y = x >= 0 ? x : alpha x
  kSigmoid,    // float only: no integer semantics
  kMaxPool,
  kAvgPool,    // padding cells are not counted (count_include_pad = 0)
  kFlatten,    // CHW -> (C*H*W) x 1 x 1, same element order
  kNormalize,  // y = (x - offset) / divisor, each of size 1 (broadcast) or the input size
};

const char* LayerKindName(LayerKind kind);

// Kernel geometry shared by convolution and pooling.
struct Window {
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool operator==(const Window& o) const;
};

struct Layer {
  LayerKind kind = LayerKind::kDense;
  std::string name;
  Shape input_shape;
  Shape output_shape;
  std::vector<float> weights;  // dense: out*in; conv: out_c*in_c*kh*kw
  std::vector<float> bias;     // one per output unit / channel
  Window window;               // conv and pools
  float alpha = 0.01f;         // LeakyReLU
  std::vector<float> offset;   // Normalize
  std::vector<float> divisor;  // Normalize

  bool IsLinear() const { return kind == LayerKind::kDense || kind == LayerKind::kConv2d; }
  // Output units: dense neurons or convolution channels.
  int Units() const { return output_shape.channels; }
  // Weights feeding one unit (in for dense, in_c*kh*kw for conv).
  int64_t FanIn() const;
};

// Which output is the network's decision (its top-1): the highest (classifiers) or the lowest
// (ACAS Xu: the advisory is the lowest score). The quantization config's "decision" key.
enum class Decision { kArgmax, kArgmin };

struct Network {
  std::string name;
  Shape input_shape;
  std::vector<Layer> layers;
  // In memory only: the last linear layer is negated (OrientForDecision). Files always hold the
  // network as loaded.
  bool outputs_negated = false;
  // A stand-in built from an integer network that has no float network behind it (a
  // hand-written fixed-point model, an imported int8 ONNX model): the integer weights times
  // their scales. It carries the shapes and names every stage reads; no float figure
  // (accuracy, agreement) is ever computed from it, and targets that need a float network
  // refuse it.
  bool stand_in = false;

  Shape OutputShape() const { return layers.empty() ? input_shape : layers.back().output_shape; }
  int NumClasses() const { return static_cast<int>(OutputShape().Size()); }
  // Index of the last dense or convolution layer (the logits), -1 if there is none; the float
  // twin of QuantizedNetwork::LogitLayer.
  int LastLinearLayer() const;
};

// Output shape of a layer from its input shape and parameters. Throws qrepair::Error
// (kBadInput, naming `source` and the layer) when the parameters do not fit the input.
Shape InferOutputShape(const Layer& layer, const Shape& input, const std::string& source);

// Checks shapes chain, parameter sizes match, and all values are finite. `source` names the
// file in messages. Fills each layer's input/output shapes from `input_shape`.
void ValidateNetwork(Network& network, const std::string& source);

// Makes argmax over the outputs pick `decision`: for kArgmin the last linear layer's weights and
// bias are negated (exact in float), so that every stage (split, ranking, init, SMT constraints,
// reports, C header) keeps comparing by argmax; ties still go to the lowest index, as argmin's
// do. For kArgmax a negated network is restored. Throws Error(kBadInput) naming `source` when a
// layer other than Flatten follows the last linear layer (the negation would not pass through it).
void OrientForDecision(Network& network, Decision decision, const std::string& source);

}  // namespace qrepair
