// The ONNX QDQ exporter (opset 13); the graph it builds and why ORT may differ are described in
// include/qrepair/export/onnx_export.h.
#include "qrepair/export/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <sstream>

#include "qrepair/error.h"
#include "qrepair/version.h"

namespace qrepair {

namespace {

constexpr int kOpset = 13;
constexpr int kIrVersion = 7;  // the IR version of opset 13

using TensorType = onnx::TensorProto_DataType;

// Appends nodes and initializers to a graph, each with a name unique in it.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output) {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(output);
    for (const std::string& in : inputs) node->add_input(in);
    node->add_output(output);
    return node;
  }

  template <typename T>
  std::string Initializer(const std::string& name, TensorType type,
                          const std::vector<int64_t>& dims, const std::vector<T>& values) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    std::string raw(values.size() * sizeof(T), '\0');  // little-endian, as ONNX raw_data is
    if (!values.empty()) std::memcpy(&raw[0], values.data(), raw.size());
    t->set_raw_data(raw);
    return name;
  }

  // A float scalar ([]) or vector ([n]) initializer.
  std::string Floats(const std::string& name, const std::vector<double>& values, bool scalar) {
    std::vector<float> f(values.begin(), values.end());
    return Initializer(
        name, onnx::TensorProto::FLOAT,
        scalar ? std::vector<int64_t>{} : std::vector<int64_t>{static_cast<int64_t>(f.size())}, f);
  }

 private:
  onnx::GraphProto* graph_;
};

void AttrInt(onnx::NodeProto* node, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void AttrInts(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void AttrFloat(onnx::NodeProto* node, const std::string& name, float v) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void WindowAttrs(onnx::NodeProto* node, const Window& w) {
  AttrInts(node, "kernel_shape", {w.kernel_h, w.kernel_w});
  AttrInts(node, "strides", {w.stride_h, w.stride_w});
  AttrInts(node, "pads", {w.pad_top, w.pad_left, w.pad_bottom, w.pad_right});
}

// Walks the quantized layers and emits their QDQ form.
class QdqEmitter {
 public:
  QdqEmitter(const QuantizedNetwork& net, onnx::GraphProto* graph) : net_(net), g_(graph) {}

  // Returns the name of the final float tensor (the logits).
  std::string Emit(std::string x, int rank) {
    rank_ = rank;
    x = Normalize(x);
    if (!net_.float_activations) x = Qdq(x, net_.input, "input");
    const int logit_layer = net_.LogitLayer();
    for (size_t i = 0; i < net_.layers.size(); ++i) {
      const QuantLayer& l = net_.layers[i];
      id_ = std::to_string(i) + "_" + l.name;
      if (static_cast<int>(i) > logit_layer && l.kind != LayerKind::kFlatten) {
        throw BadInput(
            net_.name, "layer " + std::to_string(i) + " '" + l.name + "'",
            std::string(LayerKindName(l.kind)) + " after the logits layer has no QDQ export");
      }
      bool is_logits = static_cast<int>(i) == logit_layer;
      switch (l.kind) {
        case LayerKind::kDense:
        case LayerKind::kConv2d:
          x = Linear(x, l);
          if ((!is_logits || l.output.bits < 32) && !net_.float_activations)
            x = Qdq(x, l.output, id_);
          break;
        case LayerKind::kMaxPool: {
          onnx::NodeProto* pool = g_.Node("MaxPool", {x}, id_ + "/MaxPool");
          WindowAttrs(pool, l.window);
          x = pool->output(0);
          if (!net_.float_activations) x = Qdq(x, l.output, id_);
          break;
        }
        case LayerKind::kAvgPool:
          x = AveragePool(x, l);
          break;
        case LayerKind::kFlatten:
          x = Flatten(x);
          break;
        case LayerKind::kRelu:
          x = g_.Node("Relu", {x}, id_ + "/Relu")->output(0);
          if (!net_.float_activations) x = Qdq(x, l.output, id_);
          break;
        default:
          throw BadInput(net_.name, "layer " + std::to_string(i) + " '" + l.name + "'",
                         std::string(LayerKindName(l.kind)) + " has no QDQ export");
      }
    }
    return x;
  }

 private:
  std::string Normalize(const std::string& x) {
    if (net_.input_offset.empty()) return x;
    auto dims = [&](size_t n) {
      if (n == 1) return std::vector<int64_t>{};
      const Shape& s = net_.input_shape;
      return rank_ == 4 ? std::vector<int64_t>{s.channels, s.height, s.width}
                        : std::vector<int64_t>{s.Size()};
    };
    std::string off = g_.Initializer("input/offset", onnx::TensorProto::FLOAT,
                                     dims(net_.input_offset.size()), net_.input_offset);
    std::string div = g_.Initializer("input/divisor", onnx::TensorProto::FLOAT,
                                     dims(net_.input_divisor.size()), net_.input_divisor);
    std::string centered = g_.Node("Sub", {x, off}, "input/Sub")->output(0);
    return g_.Node("Div", {centered, div}, "input/Div")->output(0);
  }

  // [Clip] -> QuantizeLinear -> DequantizeLinear at `code`; remembers the integer tensor.
  // Opset 13's QuantizeLinear is 8-bit only (16-bit came with opset 21, which Debian's libonnx
  // 1.12 cannot check), so wider codes (9..16 bits) are quantized by the same arithmetic in float:
  // Div, Round (half to even, as QuantizeLinear), Clip to the code range, Mul. float32 holds
  // every 16-bit code exactly; a runtime sees plain float ops there, not a QDQ pattern to fuse.
  std::string Qdq(const std::string& x, const ActivationCode& code, const std::string& id) {
    std::string scale = g_.Floats(id + "/scale", {code.scale}, true);
    codes_scale_ = scale;
    if (code.bits > 8) {
      const std::string q = id + "/Quantize";
      std::string divided = g_.Node("Div", {x, scale}, q + "/Div")->output(0);
      std::string rounded = g_.Node("Round", {divided}, q + "/Round")->output(0);
      // The codes minus the zero point: round(x / s) clipped to [min - zp, max - zp].
      const double zp = static_cast<double>(code.zero_point);
      std::string lo = g_.Floats(q + "/code_min", {static_cast<double>(code.Min()) - zp}, true);
      std::string hi = g_.Floats(q + "/code_max", {static_cast<double>(code.Max()) - zp}, true);
      codes_ = g_.Node("Clip", {rounded, lo, hi}, q + "/Clip")->output(0);
      codes_zero_point_ = 0;
      return g_.Node("Mul", {codes_, scale}, id + "/Dequantize")->output(0);
    }
    std::string zero =
        code.is_signed
            ? g_.Initializer(id + "/zero_point", onnx::TensorProto::INT8, {},
                             std::vector<int8_t>{static_cast<int8_t>(code.zero_point)})
            : g_.Initializer(id + "/zero_point", onnx::TensorProto::UINT8, {},
                             std::vector<uint8_t>{static_cast<uint8_t>(code.zero_point)});
    std::string in = x;
    if (code.bits < 8) {
      const double zp = static_cast<double>(code.zero_point);
      std::string lo =
          g_.Floats(id + "/clip_min", {(static_cast<double>(code.Min()) - zp) * code.scale}, true);
      std::string hi =
          g_.Floats(id + "/clip_max", {(static_cast<double>(code.Max()) - zp) * code.scale}, true);
      in = g_.Node("Clip", {x, lo, hi}, id + "/Clip")->output(0);
    }
    codes_ = g_.Node("QuantizeLinear", {in, scale, zero}, id + "/QuantizeLinear")->output(0);
    codes_zero_point_ = code.zero_point;
    return g_.Node("DequantizeLinear", {codes_, scale, zero}, id + "/DequantizeLinear")->output(0);
  }

  std::string Flatten(const std::string& x) {
    onnx::NodeProto* node = g_.Node("Flatten", {x}, id_ + "/Flatten");
    AttrInt(node, "axis", 1);
    rank_ = 2;
    return node->output(0);
  }

  // Weights (int8, or int32 past 8 bits) and bias (int32 at s_w * s_x) through
  // DequantizeLinear into Gemm or Conv, then the fused activation.
  std::string Linear(std::string x, const QuantLayer& l) {
    const bool dense = l.kind == LayerKind::kDense;
    if (dense && rank_ == 4) x = Flatten(x);
    const int64_t units = l.Units();
    const bool per_axis = l.weight_scales.size() > 1;
    std::vector<int64_t> dims = dense ? std::vector<int64_t>{units, l.FanIn()}
                                      : std::vector<int64_t>{units, l.input_shape.channels,
                                                             l.window.kernel_h, l.window.kernel_w};
    std::string w_scale = g_.Floats(id_ + "/weight_scale", l.weight_scales, !per_axis);
    std::vector<std::string> w_dq_inputs;
    if (l.weight_bits <= 8) {
      std::vector<int8_t> w(l.weights_q.begin(), l.weights_q.end());
      w_dq_inputs = {g_.Initializer(id_ + "/weight_q", onnx::TensorProto::INT8, dims, w), w_scale,
                     g_.Initializer(id_ + "/weight_zero_point", onnx::TensorProto::INT8,
                                    per_axis ? std::vector<int64_t>{units} : std::vector<int64_t>{},
                                    std::vector<int8_t>(per_axis ? units : 1, 0))};
    } else {
      w_dq_inputs = {g_.Initializer(id_ + "/weight_q", onnx::TensorProto::INT32, dims, l.weights_q),
                     w_scale};
    }
    onnx::NodeProto* w_dq = g_.Node("DequantizeLinear", w_dq_inputs, id_ + "/weight");
    if (per_axis) AttrInt(w_dq, "axis", 0);
    std::string bias;
    if (net_.float_activations) {
      bias = g_.Initializer(id_ + "/bias", onnx::TensorProto::FLOAT, {units}, l.bias_float);
    } else {
      std::vector<int32_t> b_q;
      for (int64_t b : l.bias_q) {
        if (b < INT32_MIN || b > INT32_MAX) {
          throw BadInput(net_.name, "layer '" + l.name + "'",
                         "integer bias " + std::to_string(b) + " does not fit in int32");
        }
        b_q.push_back(static_cast<int32_t>(b));
      }
      std::vector<double> b_scale;
      for (double s : l.weight_scales) b_scale.push_back(s * l.input.scale);
      onnx::NodeProto* b_dq =
          g_.Node("DequantizeLinear",
                  {g_.Initializer(id_ + "/bias_q", onnx::TensorProto::INT32, {units}, b_q),
                   g_.Floats(id_ + "/bias_scale", b_scale, !per_axis)},
                  id_ + "/bias");
      if (per_axis) AttrInt(b_dq, "axis", 0);
      bias = b_dq->output(0);
    }
    onnx::NodeProto* op = g_.Node(dense ? "Gemm" : "Conv", {x, w_dq->output(0), bias},
                                  id_ + (dense ? "/Gemm" : "/Conv"));
    if (dense) {
      AttrInt(op, "transB", 1);
      rank_ = 2;
    } else {
      WindowAttrs(op, l.window);
      rank_ = 4;
    }
    std::string y = op->output(0);
    if (l.activation == QActivation::kRelu) y = g_.Node("Relu", {y}, id_ + "/Relu")->output(0);
    if (l.activation == QActivation::kLeakyRelu) {
      onnx::NodeProto* leaky = g_.Node("LeakyRelu", {y}, id_ + "/LeakyRelu");
      AttrFloat(leaky, "alpha", l.leaky_alpha);
      y = leaky->output(0);
    }
    return y;
  }

  // The reference averages integer codes and rounds half to even. On dequantized floats the
  // half-way cases (common: a 2x2 sum that is 2 mod 4) would round by float error, so the pool
  // runs on the codes themselves: small integers, whose sum is exact and whose quotient is
  // exact whenever it is a tie; Round is half-to-even as the reference.
  std::string AveragePool(const std::string& x, const QuantLayer& l) {
    if (net_.float_activations) {
      onnx::NodeProto* pool = g_.Node("AveragePool", {x}, id_ + "/AveragePool");
      WindowAttrs(pool, l.window);
      return pool->output(0);
    }
    onnx::NodeProto* cast = g_.Node("Cast", {codes_}, id_ + "/Cast");
    AttrInt(cast, "to", onnx::TensorProto::FLOAT);
    std::string centered = cast->output(0);  // codes - zero point: the reference's average
    if (codes_zero_point_ != 0) {
      std::string zp =
          g_.Floats(id_ + "/pool_zero_point", {static_cast<double>(codes_zero_point_)}, true);
      centered = g_.Node("Sub", {centered, zp}, id_ + "/Center")->output(0);
    }
    onnx::NodeProto* pool = g_.Node("AveragePool", {centered}, id_ + "/AveragePool");
    WindowAttrs(pool, l.window);
    std::string rounded = g_.Node("Round", {pool->output(0)}, id_ + "/Round")->output(0);
    std::string real = g_.Node("Mul", {rounded, codes_scale_}, id_ + "/Mul")->output(0);
    return Qdq(real, l.output, id_);
  }

  const QuantizedNetwork& net_;
  GraphBuilder g_;
  std::string id_;                // current layer's name prefix
  int rank_ = 2;                  // rank of the current tensor (2: [N, F], 4: [N, C, H, W])
  std::string codes_;             // the latest integer codes (QuantizeLinear, or Clip past 8 bits)
  std::string codes_scale_;       // its scale initializer
  int64_t codes_zero_point_ = 0;  // its zero point (0 where codes_ holds centered codes)
};

void AddValueInfo(onnx::ValueInfoProto* info, const std::string& name,
                  const std::vector<int64_t>& dims) {
  info->set_name(name);
  onnx::TypeProto_Tensor* t = info->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

}  // namespace

std::vector<int64_t> OnnxInputDims(const QuantizedNetwork& net) {
  const Shape& in = net.input_shape;
  bool spatial = in.height > 1 || in.width > 1 ||
                 (!net.layers.empty() && net.layers.front().kind != LayerKind::kDense &&
                  net.layers.front().kind != LayerKind::kFlatten);
  if (spatial) return {in.channels, in.height, in.width};
  return {in.Size()};
}

std::string ExportOnnxQdq(const QuantizedNetwork& net, const Network& float_net) {
  if (float_net.input_shape != net.input_shape || float_net.NumClasses() != net.NumClasses()) {
    throw InternalError("ExportOnnxQdq: the float network '" + float_net.name +
                        "' does not match the quantized one");
  }
  const int logit_layer = net.LogitLayer();
  if (logit_layer < 0) throw BadInput(net.name, "", "no linear layer: nothing to export");
  // QuantizeLinear rounds half to even; the other modes would need a graph of their own, and an
  // export that ONNX Runtime does not run bit for bit as the integer pass would be a wrong file.
  if (!net.float_activations && net.rounding != RoundingMode::kHalfEven) {
    throw BadInput(net.name, "\"rounding\"",
                   std::string("the network rounds \"") + RoundingModeName(net.rounding) +
                       "\", but ONNX QuantizeLinear rounds half to even; the ONNX export writes "
                       "only \"half-even\" networks (export a C header for this one)");
  }
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("qrepair");
  model.set_producer_version(kVersion);
  model.set_doc_string(
      "Quantized by qrepair (QDQ). The reference is qrepair's integer pass; ONNX Runtime computes "
      "the linear "
      "layers in float (or fused integer kernels with float requantization), so an activation code "
      "can differ "
      "by one where a value lies within float error of a rounding tie. Logits are real; "
      "logit_scale converts "
      "them to the reference's integer quanta.");
  model.add_opset_import()->set_version(kOpset);
  auto* meta = model.add_metadata_props();
  meta->set_key("logit_scale");
  std::ostringstream scale;
  scale.precision(17);
  scale << net.layers[logit_layer].output.scale;
  meta->set_value(scale.str());

  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(float_net.name.empty() ? "qrepair" : float_net.name);
  std::vector<int64_t> input_dims = OnnxInputDims(net);
  AddValueInfo(graph->add_input(), "input", input_dims);
  int rank = static_cast<int>(input_dims.size()) + 1;
  QdqEmitter emitter(net, graph);
  std::string logits = emitter.Emit("input", rank);
  if (net.decision == Decision::kArgmin) {
    // qrepair negated the last layer so that argmax decides (OrientForDecision); the model gives
    // the outputs in the loaded network's orientation, where the lowest is the decision.
    logits = GraphBuilder(graph).Node("Neg", {logits}, "decision/Neg")->output(0);
    auto* decision = model.add_metadata_props();
    decision->set_key("decision");
    decision->set_value("argmin");
  }
  for (auto& node : *graph->mutable_node()) {  // the last node writes the output by its name
    if (node.output(0) == logits) node.set_output(0, "logits");
  }
  AddValueInfo(graph->add_output(), "logits", {net.NumClasses()});
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw InternalError(std::string("the exported ONNX model fails the ONNX checker: ") + e.what());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    throw InternalError("cannot serialize the exported ONNX model");
  return bytes;
}

}  // namespace qrepair
