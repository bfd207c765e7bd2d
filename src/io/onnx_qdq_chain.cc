// The QDQ chain's state machine (onnx_qdq_chain.h). Each node either sets a code (QuantizeLinear,
// with a Clip before it), dequantizes one, starts a linear layer on dequantized codes (its
// weights and bias read through DequantizeLinear), fuses an activation into it, or passes codes
// through (max pooling, flattening, ReLU). Geometry and attributes are read by the float loader's
// operator readers (onnx_ops.h), which see the weights as their integer codes.
#include "io/onnx_qdq_chain.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "io/onnx_graph.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"

namespace qrepair {
namespace onnx_import {

std::string QdqLayerName(const std::string& label) {
  const size_t underscore = label.find('_');
  const size_t slash = label.rfind('/');
  if (underscore == std::string::npos || slash == std::string::npos || slash <= underscore + 1 ||
      underscore == 0 ||
      !std::all_of(label.begin(), label.begin() + static_cast<std::ptrdiff_t>(underscore),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return label;
  }
  return label.substr(underscore + 1, slash - underscore - 1);
}

std::string QdqPlace(const OpNode& op) {
  return "node '" + op.label + "' (" + op.proto->op_type() + ")";
}

namespace {

std::string CodeText(const ActivationCode& c) {
  return "scale " + std::to_string(c.scale) + ", zero point " + std::to_string(c.zero_point);
}

bool SameCode(const ActivationCode& a, const ActivationCode& b) {
  return a.scale == b.scale && a.bits == b.bits && a.is_signed == b.is_signed &&
         a.zero_point == b.zero_point;
}

}  // namespace

QdqImporter::QdqImporter(std::string path, double logit_scale)
    : path_(std::move(path)), logit_scale_(logit_scale) {
  state_.path = path_;
}

void QdqImporter::FoldConstant(const onnx::NodeProto& node, const std::string& label,
                               ConstantMap& constants) {
  state_.constants = &constants;
  const OpNode op{&node, label, -1};
  DequantizedConstant c = ReadDequantizedConstant(state_, op);
  ConstTensor codes;
  codes.dims = c.codes.dims;
  codes.data_type = onnx::TensorProto::FLOAT;
  codes.is_float = true;
  codes.floats.assign(c.codes.ints.begin(), c.codes.ints.end());
  constants[node.output(0)] = std::move(codes);
  dequantized_[node.output(0)] = std::move(c);
}

std::string QdqImporter::Start(const onnx::GraphProto& graph, const ConstantMap& constants) {
  state_.constants = &constants;
  std::string input = FindInput(graph, constants, path_, &state_.dims).name();
  ShapeOfDims(state_.dims, &state_.shape);
  state_.network.input_shape = state_.shape;
  net_.input_shape = state_.shape;
  return input;
}

void QdqImporter::Visit(const OpNode& op) {
  const std::string& type = op.proto->op_type();
  if (phase_ == Phase::kEnded) {
    throw NodeError(state_, op, "follows the final Neg; expected Neg to end the graph");
  }
  if (has_clip_ && type != "QuantizeLinear") {
    throw NodeError(
        state_, op,
        "follows " + clip_place_ +
            "; expected a QuantizeLinear right after a Clip (the Clip narrows its code)");
  }
  if (type == "QuantizeLinear") return Quantize(op);
  if (type == "DequantizeLinear") return Dequantize(op);
  if (type == "Clip") return Clip(op);
  if (type == "Cast" && phase_ == Phase::kCodes) {  // torch.onnx casts codes to their own type
    const int64_t to = IntAttr(state_, op, "to", 0);
    const int own = code_.is_signed ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8;
    if (to != own) {
      throw NodeError(state_, op,
                      "casts the codes of " + code_place_ + " to " +
                          TypeName(static_cast<int>(to)) + "; expected their own type " +
                          TypeName(own));
    }
    return;
  }
  if (phase_ == Phase::kCodes) {
    throw NodeError(state_, op,
                    "reads the integer codes of " + code_place_ +
                        "; expected a DequantizeLinear first (operators run on dequantized codes)");
  }
  if (phase_ == Phase::kFloatInput) {
    if (type == "Sub" || type == "Div" || type == "Add" || type == "Mul" || type == "Identity") {
      ImportNode(op, state_);  // the input normalization
      return;
    }
    throw NodeError(state_, op,
                    "comes before the input's QuantizeLinear; expected the network input "
                    "quantized first (only a Sub/Div normalization may come before it)");
  }
  if (type == "Gemm" || type == "MatMul" || type == "Conv") return Linear(op);
  if (type == "Add" && phase_ == Phase::kAccumulator && awaiting_bias_) {
    if (op.proto->input_size() != 2) throw NodeError(state_, op, "expected two inputs");
    Bias(op, op.proto->input(1 - op.data_input), net_.layers[static_cast<size_t>(pending_)]);
    awaiting_bias_ = false;
    return;
  }
  if (type == "Relu" || type == "LeakyRelu") return Activation(op);
  if (type == "MaxPool" || type == "GlobalMaxPool" || type == "Flatten" || type == "Reshape" ||
      type == "Identity" || type == "Dropout") {
    return PassCodes(op);
  }
  if (type == "Neg") {  // qrepair's export of an argmin network: the lowest output decides
    net_.decision = Decision::kArgmin;
    ended_from_ = phase_;
    phase_ = Phase::kEnded;
    return;
  }
  if (type.rfind("QLinear", 0) == 0 || type == "MatMulInteger" || type == "ConvInteger") {
    throw NodeError(state_, op,
                    "the QOperator form is not supported; expected the QDQ form (QuantizeLinear/"
                    "DequantizeLinear around float operators, ONNX Runtime's QuantFormat.QDQ)");
  }
  if (type == "AveragePool" || type == "GlobalAveragePool") {
    throw NodeError(state_, op,
                    "average pooling of dequantized codes rounds its ties by float error, which "
                    "has no exact integer meaning; expected MaxPool");
  }
  throw NodeError(state_, op,
                  "operator " + type +
                      " is not supported in a quantized model; expected QuantizeLinear, "
                      "DequantizeLinear, Gemm, MatMul (+ Add), Conv, Relu, LeakyRelu, Clip, "
                      "MaxPool, Flatten, Reshape, Identity or a final Neg");
}

ActivationCode QdqImporter::QuantizedCode(const OpNode& op, const QdqParams& params) {
  ActivationCode code = ActivationCodeOf(state_, op, params);
  if (!has_clip_) return code;
  has_clip_ = false;
  // Q(Clip(x, lo, hi)) = clamp(Q(x), Q(lo), Q(hi)): Q is non-decreasing. Q(bound) as ONNX
  // computes it: the division in float32.
  auto to_code = [&](double bound) {
    const float q = static_cast<float>(bound) / static_cast<float>(code.scale);
    const double c = RoundHalfEven(static_cast<double>(q)) + static_cast<double>(code.zero_point);
    return static_cast<int64_t>(
        std::clamp(c, static_cast<double>(code.Min()), static_cast<double>(code.Max())));
  };
  const int64_t lo = to_code(clip_lo_), hi = to_code(clip_hi_);
  for (int bits = 8; bits >= 2; --bits) {
    ActivationCode narrow = code;
    narrow.bits = bits;
    if (narrow.Min() == lo && narrow.Max() == hi && code.zero_point >= lo &&
        code.zero_point <= hi) {
      return narrow;
    }
  }
  throw NodeError(state_, op,
                  clip_place_ + " before it bounds the codes to [" + std::to_string(lo) + ", " +
                      std::to_string(hi) +
                      "], which is not the range of a 2..8-bit code; expected the bounds of a "
                      "narrower code (or no Clip)");
}

void QdqImporter::Quantize(const OpNode& op) {
  const ActivationCode code = QuantizedCode(op, ReadQdqParams(state_, op, 0));
  switch (phase_) {
    case Phase::kFloatInput:
      if (!state_.network.layers.empty() &&
          state_.network.layers[0].kind == LayerKind::kNormalize) {
        net_.input_offset = state_.network.layers[0].offset;
        net_.input_divisor = state_.network.layers[0].divisor;
      }
      state_.network.layers.clear();
      net_.input = code;
      break;
    case Phase::kAccumulator:
      FinishLinear(code);
      break;
    case Phase::kDequantized:
      if (code.scale != code_.scale || code.zero_point != code_.zero_point) {
        throw NodeError(state_, op,
                        "requantizes the codes of " + code_place_ + " (" + CodeText(code_) +
                            ") to " + CodeText(code) +
                            "; only a Gemm, MatMul or Conv may change the scale (expected the "
                            "same scale and zero point)");
      }
      if (net_.layers.size() > codes_layers_ && code.Min() <= code_.Min() &&
          code.Max() >= code_.Max()) {
        net_.layers.back().output = code;  // the passing layer's codes, in a wider type
      } else if (!SameCode(code, code_)) {
        throw NodeError(state_, op,
                        "quantizes the codes of " + code_place_ + " to another range (" +
                            std::to_string(code.Min()) + ".." + std::to_string(code.Max()) +
                            "); expected the same code");
      }
      break;
    default:
      throw NodeError(state_, op,
                      "quantizes the integer codes of " + code_place_ +
                          " again; expected a DequantizeLinear between");
  }
  code_ = code;
  code_place_ = QdqPlace(op);
  codes_layers_ = net_.layers.size();
  phase_ = Phase::kCodes;
}

void QdqImporter::Dequantize(const OpNode& op) {
  if (phase_ != Phase::kCodes) {
    throw NodeError(state_, op,
                    "dequantizes a float tensor; expected the codes of a QuantizeLinear (or a "
                    "constant)");
  }
  const QdqParams p = ReadQdqParams(
      state_, op, code_.is_signed ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8);
  const ActivationCode dq = ActivationCodeOf(state_, op, p);
  if (dq.scale != code_.scale || dq.zero_point != code_.zero_point) {
    throw NodeError(state_, op,
                    "dequantizes with " + CodeText(dq) + ", but " + code_place_ +
                        " quantized with " + CodeText(code_) + "; expected the same parameters");
  }
  phase_ = Phase::kDequantized;
}

void QdqImporter::Clip(const OpNode& op) {
  auto bound = [&](int index, const char* attr, double fallback) {
    if (const ConstTensor* t = ConstInput(state_, op, index, attr, false)) {
      if (!t->is_float || t->floats.size() != 1) {
        throw NodeError(state_, op, std::string("input ") + attr + " must be one FLOAT value");
      }
      return static_cast<double>(t->floats[0]);
    }
    return static_cast<double>(
        FloatAttr(state_, op, attr, static_cast<float>(fallback)));  // before opset 11
  };
  clip_lo_ = bound(1, "min", -std::numeric_limits<double>::infinity());
  clip_hi_ = bound(2, "max", std::numeric_limits<double>::infinity());
  clip_place_ = QdqPlace(op);
  has_clip_ = true;
}

void QdqImporter::FinishLinear(const ActivationCode& output) {
  QuantLayer& l = net_.layers[static_cast<size_t>(pending_)];
  l.output = output;
  l.UpdateMultipliers();
  for (const auto* list : {&l.requant, &l.requant_neg}) {
    for (const FixedPointMultiplier& m : *list) {
      if (m.m != 0 && m.shift == 0 && m.Value() >= 2147483648.0) {
        throw BadInput(path_, pending_place_,
                       "its scales give a requantization multiplier s_w * s_x / s_y = " +
                           std::to_string(m.Value()) +
                           " >= 2^31, which no fixed-point multiplier holds");
      }
    }
  }
  CheckIntegerRanges(l, path_, pending_place_);
  pending_ = -1;
  awaiting_bias_ = false;
}

}  // namespace onnx_import
}  // namespace qrepair
