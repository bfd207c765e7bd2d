// The QDQ importer's layers (onnx_qdq_chain.h): linear nodes with their integer weights and
// biases, fused activations, code-passing layers, and the logits at the end of the chain.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "io/onnx_qdq_chain.h"
#include "qrepair/quant/quantize.h"

namespace qrepair {
namespace onnx_import {

namespace {

// Which axis of the stored weight tensor holds the output units.
int64_t UnitAxis(const OpNode& op, const ImportState& state) {
  const std::string& type = op.proto->op_type();
  if (type == "Gemm") return IntAttr(state, op, "transB", 0) != 0 ? 0 : 1;
  return type == "MatMul" ? 1 : 0;
}

// The width of a weight tensor's codes: 8 for INT8; for INT32 (qrepair's export of 9..16-bit
// weights) the narrowest of 9..16 bits that holds them.
int WeightBits(const DequantizedConstant& w, const std::string& path) {
  if (w.params.data_type == onnx::TensorProto::INT8) return 8;
  if (w.params.data_type != onnx::TensorProto::INT32) {
    throw BadInput(path, w.place,
                   "weights are " + TypeName(w.params.data_type) +
                       "; expected INT8 (signed, zero point 0) or INT32");
  }
  int64_t max_abs = 0;
  for (int64_t v : w.codes.ints) max_abs = std::max(max_abs, v < 0 ? -v - 1 : v);
  for (int bits = 9; bits <= 16; ++bits) {
    if (max_abs <= SignedMax(bits)) return bits;
  }
  throw BadInput(path, w.place, "INT32 weights exceed 16 bits; expected at most 16-bit weights");
}

}  // namespace

void QdqImporter::Linear(const OpNode& op) {
  const std::string& type = op.proto->op_type();
  if (phase_ != Phase::kDequantized) {
    throw NodeError(state_, op,
                    "reads the float output of " + pending_place_ +
                        "; expected a QuantizeLinear/DequantizeLinear pair between two linear "
                        "nodes");
  }
  if (type == "Gemm" && (FloatAttr(state_, op, "alpha", 1.0f) != 1.0f ||
                         FloatAttr(state_, op, "beta", 1.0f) != 1.0f)) {
    throw NodeError(state_, op,
                    "alpha and beta must be 1 (a QDQ model's scales are in its DequantizeLinear "
                    "nodes)");
  }
  if (op.proto->input_size() < 2) throw NodeError(state_, op, "input W is missing");
  const std::string& w_name = op.proto->input(1);
  const auto it = dequantized_.find(w_name);
  if (op.data_input != 0 || it == dequantized_.end()) {
    throw NodeError(state_, op,
                    "weight '" + w_name +
                        "' is not an integer constant read through a DequantizeLinear; expected "
                        "INT8 weights and a DequantizeLinear (a QDQ model quantizes every weight)");
  }
  const DequantizedConstant& w = it->second;
  for (size_t k = 0; k < w.params.zero_points.size(); ++k) {
    if (w.params.zero_points[k] != 0) {
      throw BadInput(path_, w.place,
                     "weight zero point " + std::to_string(w.params.zero_points[k]) +
                         (w.params.per_axis ? " (channel " + std::to_string(k) + ")" : "") +
                         " is not 0; qrepair's integer weights are symmetric (expected zero "
                         "points of 0, as ONNX Runtime's quantizer writes INT8 weights)");
    }
  }
  const int bits = WeightBits(w, path_);
  if (w.params.per_axis && w.params.axis != UnitAxis(op, state_)) {
    throw BadInput(path_, w.place,
                   "has per-axis scales along axis " + std::to_string(w.params.axis) +
                       ", expected the output channel axis " +
                       std::to_string(UnitAxis(op, state_)) + " of " + QdqPlace(op));
  }

  const size_t first = state_.network.layers.size();
  ImportNode(op, state_);  // geometry: shapes, attributes, the weights in qrepair's layout
  AddPassingLayers(op, first, state_.network.layers.size() - 1);  // a Flatten before a Gemm
  const Layer& f = state_.network.layers.back();
  QuantLayer q;
  q.kind = f.kind;
  q.name = QdqLayerName(op.label);
  q.input_shape = f.input_shape;
  q.output_shape = f.output_shape;
  q.window = f.window;
  q.weight_bits = bits;
  q.granularity = w.params.per_axis ? Granularity::kPerChannel : Granularity::kPerTensor;
  q.weight_scales = w.params.scales;
  q.weights_q.reserve(f.weights.size());
  for (float v : f.weights) q.weights_q.push_back(static_cast<int32_t>(v));  // exact integers
  q.input = code_;
  q.rounding = RoundingMode::kHalfEven;
  q.bias_q.assign(static_cast<size_t>(q.Units()), 0);
  awaiting_bias_ = type == "MatMul";
  if (type != "MatMul" && op.proto->input_size() > 2 && !op.proto->input(2).empty()) {
    Bias(op, op.proto->input(2), q);
  }
  net_.layers.push_back(std::move(q));
  pending_ = static_cast<int>(net_.layers.size()) - 1;
  pending_place_ = QdqPlace(op);
  phase_ = Phase::kAccumulator;
}

void QdqImporter::Bias(const OpNode& op, const std::string& tensor, QuantLayer& layer) {
  const size_t units = static_cast<size_t>(layer.Units());
  const auto dq = dequantized_.find(tensor);
  if (dq != dequantized_.end()) {
    const DequantizedConstant& b = dq->second;
    if (b.params.data_type != onnx::TensorProto::INT32 || b.codes.ints.size() != units) {
      throw BadInput(path_, b.place,
                     "bias is " + std::to_string(b.codes.ints.size()) + " " +
                         TypeName(b.params.data_type) + " values; expected " +
                         std::to_string(units) + " INT32 codes at scale s_x * s_w");
    }
    bool rescaled = false;
    for (size_t u = 0; u < units; ++u) {
      if (b.params.zero_points[b.params.per_axis ? u : 0] != 0) {
        throw BadInput(path_, b.place, "bias zero point is not 0; expected 0");
      }
      const double expected = layer.WeightScale(static_cast<int>(u)) * layer.input.scale;
      const double given = b.params.scales[b.params.per_axis ? u : 0];
      const int64_t code = b.codes.ints[u];
      if (std::abs(given - expected) <= 1e-6 * expected) {  // float32 rounding of s_x * s_w
        layer.bias_q[u] = code;
        continue;
      }
      const double moved = RoundHalfEven(static_cast<double>(code) * given / expected);
      if (!(std::abs(moved) <= 2147483647.0)) {
        throw BadInput(path_, b.place, "bias rescaled to s_x * s_w does not fit int32");
      }
      layer.bias_q[u] = static_cast<int64_t>(moved);
      rescaled = true;
    }
    if (rescaled) {
      spdlog::warn(
          "{}: {}: bias scale is not input scale x weight scale; bias codes rescaled to "
          "it (half to even)",
          path_, b.place);
    }
    return;
  }
  const auto c = state_.constants->find(tensor);
  if (c == state_.constants->end() || !c->second.is_float ||
      (c->second.floats.size() != 1 && c->second.floats.size() != units)) {
    throw NodeError(state_, op,
                    "bias '" + tensor + "' must be " + std::to_string(units) +
                        " INT32 codes read through a DequantizeLinear, or a FLOAT constant");
  }
  const std::vector<float>& v = c->second.floats;
  for (size_t u = 0; u < units; ++u) {
    layer.bias_q[u] = BiasCode(v[v.size() == 1 ? 0 : u], layer.WeightScale(static_cast<int>(u)),
                               layer.input.scale);
  }
  spdlog::info(
      "{}: {}: float bias quantized to the accumulator's scale (input scale x weight "
      "scale), half to even",
      path_, QdqPlace(op));
}

void QdqImporter::Activation(const OpNode& op) {
  const bool leaky = op.proto->op_type() == "LeakyRelu";
  if (phase_ == Phase::kAccumulator) {
    QuantLayer& l = net_.layers[static_cast<size_t>(pending_)];
    if (l.activation != QActivation::kNone) {
      throw NodeError(state_, op, "is a second activation after " + pending_place_);
    }
    l.activation = leaky ? QActivation::kLeakyRelu : QActivation::kRelu;
    if (leaky) {
      l.leaky_alpha = FloatAttr(state_, op, "alpha", 0.01f);
      if (!(l.leaky_alpha >= 0.0f)) {
        throw NodeError(state_, op, "alpha < 0 has no integer semantics; expected alpha >= 0");
      }
    }
    awaiting_bias_ = false;
    return;
  }
  if (leaky) {
    throw NodeError(state_, op,
                    "LeakyRelu of dequantized codes has no integer meaning here; expected it "
                    "right after a Gemm, MatMul or Conv");
  }
  QuantLayer r;  // ReLU on codes: max(code, zero point), the same code
  r.kind = LayerKind::kRelu;
  r.name = QdqLayerName(op.label);
  r.input_shape = r.output_shape = state_.shape;
  r.input = r.output = code_;
  if (code_.zero_point == 0) r.output.is_signed = false;
  r.rounding = RoundingMode::kHalfEven;
  code_ = r.output;
  net_.layers.push_back(std::move(r));
}

void QdqImporter::PassCodes(const OpNode& op) {
  const size_t first = state_.network.layers.size();
  const bool pool = op.proto->op_type().find("MaxPool") != std::string::npos;
  if (phase_ == Phase::kAccumulator && pool) {
    throw NodeError(state_, op,
                    "pools the float output of " + pending_place_ +
                        "; expected a QuantizeLinear/DequantizeLinear pair before it");
  }
  ImportNode(op, state_);
  if (phase_ == Phase::kAccumulator && state_.network.layers.size() != first) {
    throw NodeError(state_, op,
                    "reshapes the float output of " + pending_place_ +
                        "; expected a QuantizeLinear/DequantizeLinear pair before it");
  }
  AddPassingLayers(op, first, state_.network.layers.size());
}

void QdqImporter::AddPassingLayers(const OpNode& op, size_t first, size_t end) {
  for (size_t i = first; i < end; ++i) {
    const Layer& f = state_.network.layers[i];
    if (f.kind != LayerKind::kMaxPool && f.kind != LayerKind::kFlatten) {
      throw NodeError(
          state_, op,
          std::string(LayerKindName(f.kind)) + " of dequantized codes has no integer meaning here");
    }
    QuantLayer q;
    q.kind = f.kind;
    q.name = QdqLayerName(f.name);
    q.input_shape = f.input_shape;
    q.output_shape = f.output_shape;
    q.window = f.window;
    q.input = q.output = code_;
    q.rounding = RoundingMode::kHalfEven;
    net_.layers.push_back(std::move(q));
  }
}

QuantizedNetwork QdqImporter::Finish() {
  if (has_clip_) throw BadInput(path_, clip_place_, "ends the graph; expected a QuantizeLinear");
  if (phase_ == Phase::kFloatInput) {
    throw BadInput(path_, "graph",
                   "has no QuantizeLinear on the network input; expected the input quantized "
                   "(weights-only QDQ models are not supported)");
  }
  const int logits = net_.LogitLayer();
  if (logits < 0) throw BadInput(path_, "graph", "has no Gemm, MatMul or Conv; expected one");
  const Phase end = phase_ == Phase::kEnded ? ended_from_ : phase_;
  QuantConfig& config = net_.config;
  if (end == Phase::kAccumulator) {  // no QuantizeLinear after the last linear node: int32
    QuantLayer& l = net_.layers[static_cast<size_t>(pending_)];
    const double s_min = *std::min_element(l.weight_scales.begin(), l.weight_scales.end());
    FinishLinear(ActivationCode{logit_scale_ > 0 ? logit_scale_ : s_min * l.input.scale, 32, true});
    config.logit_bits = 32;
  } else {
    for (size_t i = static_cast<size_t>(logits) + 1; i < net_.layers.size(); ++i) {
      if (net_.layers[i].kind != LayerKind::kFlatten) {
        throw BadInput(path_, "layer '" + net_.layers[i].name + "'",
                       std::string(LayerKindName(net_.layers[i].kind)) +
                           " follows the last linear layer; expected the logits to be the last "
                           "Gemm, MatMul or Conv's output");
      }
    }
    config.logit_bits = net_.layers[static_cast<size_t>(logits)].output.bits;
  }
  config.activation_bits = net_.input.bits;
  config.activation_symmetric = net_.input.zero_point == 0;
  config.defaults.weight_bits = 0;
  for (const QuantLayer& l : net_.layers) {
    if (l.output.zero_point != 0) config.activation_symmetric = false;
    if (!l.IsLinear()) continue;
    if (config.defaults.weight_bits == 0) {
      config.defaults.weight_bits = l.weight_bits;
      config.defaults.granularity = l.granularity;
    } else if (l.weight_bits != config.defaults.weight_bits ||
               l.granularity != config.defaults.granularity) {
      config.layers[l.name] = LayerQuantSpec{l.weight_bits, l.granularity, ScaleRule::kMaxAbs};
    }
  }
  config.rounding = RoundingMode::kHalfEven;
  config.decision = net_.decision;
  net_.rounding = RoundingMode::kHalfEven;
  net_.float_activations = false;
  return std::move(net_);
}

}  // namespace onnx_import
}  // namespace qrepair
