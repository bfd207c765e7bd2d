// The C header exporter: data arrays per layer and an unrolled chain of helper calls.
#include "qrepair/export/c_header_export.h"

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "export/c_header_runtime.h"
#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "qrepair/version.h"

namespace qrepair {

namespace {

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Text safe inside a C block comment.
std::string CommentSafe(std::string s) {
  for (size_t pos = s.find("*/"); pos != std::string::npos; pos = s.find("*/"))
    s.replace(pos, 2, "* /");
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

std::string Int64Literal(int64_t v) {
  if (v == INT64_MIN) return "INT64_MIN";
  return "INT64_C(" + std::to_string(v) + ")";
}

// Exact C literal of a double (hex float), with the decimal value in a comment.
std::string DoubleLiteral(double v) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%a /* %.9g */", v, v);
  return buf;
}

const char* WeightType(int bits) {
  if (bits <= 8) return "int8_t";
  if (bits <= 16) return "int16_t";
  return "int32_t";
}

template <typename T>
void EmitArray(std::ostringstream& out, const char* type, const std::string& name,
               const std::vector<T>& values, const char* suffix = "") {
  out << "static const " << type << " " << name << "[" << values.size() << "] = {";
  for (size_t i = 0; i < values.size(); ++i) {
    out << (i % 16 == 0 ? "\n  " : " ") << values[i] << suffix
        << (i + 1 < values.size() ? "," : "");
  }
  out << "\n};\n";
}

void CheckLayer(const QuantizedNetwork& net, const QuantLayer& l, size_t index) {
  const std::string place = "layer " + std::to_string(index) + " '" + l.name + "'";
  switch (l.kind) {
    case LayerKind::kDense:
    case LayerKind::kConv2d:
    case LayerKind::kMaxPool:
    case LayerKind::kAvgPool:
    case LayerKind::kFlatten:
    case LayerKind::kRelu:
      break;
    default:
      throw BadInput(net.name, place,
                     std::string(LayerKindName(l.kind)) + " has no integer semantics to export");
  }
  if (!l.IsLinear()) return;
  for (int64_t b : l.bias_q) {
    if (b < INT32_MIN || b > INT32_MAX) {
      throw BadInput(net.name, place,
                     "integer bias " + std::to_string(b) + " does not fit in int32");
    }
  }
  CheckIntegerRanges(l, net.name, place);
}

std::string GeometryInit(const QuantLayer& l) {
  const Shape& in = l.input_shape;
  const Shape& out = l.output_shape;
  const Window& w = l.window;
  std::ostringstream s;
  s << "{" << in.channels << ", " << in.height << ", " << in.width << ", " << out.channels << ", "
    << out.height << ", " << out.width << ", " << w.kernel_h << ", " << w.kernel_w << ", "
    << w.stride_h << ", " << w.stride_w << ", " << w.pad_top << ", " << w.pad_left << "}";
  return s.str();
}

void EmitLinearData(std::ostringstream& out, const std::string& p, const std::string& id,
                    const QuantLayer& l) {
  EmitArray(out, WeightType(l.weight_bits), id + "_weights", l.weights_q);
  EmitArray(out, "int32_t", id + "_bias", l.bias_q);
  std::vector<int64_t> m, shift, m_neg, shift_neg;
  for (const FixedPointMultiplier& f : l.requant) {
    m.push_back(f.m);
    shift.push_back(f.shift);
  }
  for (const FixedPointMultiplier& f : l.requant_neg) {
    m_neg.push_back(f.m);
    shift_neg.push_back(f.shift);
  }
  EmitArray(out, "int32_t", id + "_m", m);
  EmitArray(out, "uint8_t", id + "_shift", shift);
  bool leaky = l.activation == QActivation::kLeakyRelu;
  if (leaky) {
    EmitArray(out, "int32_t", id + "_m_neg", m_neg);
    EmitArray(out, "uint8_t", id + "_shift_neg", shift_neg);
  }
  int activation = l.activation == QActivation::kRelu ? 1 : (leaky ? 2 : 0);
  out << "static const " << p << "_requant_t " << id << "_requant = {" << id << "_m, " << id
      << "_shift, " << (leaky ? id + "_m_neg, " + id + "_shift_neg" : std::string("0, 0")) << ", "
      << activation << ", " << Int64Literal(l.output.Min()) << ", " << Int64Literal(l.output.Max())
      << ", " << Int64Literal(l.input.zero_point) << ", " << Int64Literal(l.output.zero_point)
      << "};\n";
}

std::string Describe(const QuantLayer& l) {
  std::string d = std::string(LayerKindName(l.kind)) + " " + l.input_shape.ToString() + " -> " +
                  l.output_shape.ToString();
  if (l.IsLinear()) {
    d += ", " + std::to_string(l.weight_bits) + "-bit weights";
    if (l.activation == QActivation::kRelu) d += ", ReLU";
    if (l.activation == QActivation::kLeakyRelu) d += ", LeakyReLU";
  }
  d += ", codes " + std::to_string(l.output.Min()) + ".." + std::to_string(l.output.Max());
  return CommentSafe(d);
}

void EmitInputQuantization(std::ostringstream& out, const QuantizedNetwork& net,
                           const std::string& p, const std::string& up) {
  out << "\n#ifndef " << up << "_NO_FLOAT\n";
  auto emit_floats = [&](const std::string& name, const std::vector<float>& v) {
    std::vector<std::string> literals;
    for (float f : v) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%af", static_cast<double>(f));
      literals.push_back(buf);
    }
    EmitArray(out, "float", name, literals);
  };
  bool normalize = !net.input_offset.empty();
  if (normalize) {
    emit_floats(p + "_input_offset", net.input_offset);
    emit_floats(p + "_input_divisor", net.input_divisor);
  }
  out << "/* Input codes from float input: code = sat(round(((x - offset) / divisor) / scale) + "
         "zero_point).\n"
         "   The only function here that uses floating point (define "
      << up
      << "_NO_FLOAT to drop it).\n"
         "   It matches the reference bit for bit where float arithmetic is IEEE single precision\n"
         "   without excess precision (FLT_EVAL_METHOD == 0, e.g. x86-64, ARMv7-M/v8-M FPU);\n"
         "   inputs must be finite. */\n"
      << "static inline void " << p
      << "_quantize_input(const float* input, int32_t* input_codes) {\n"
      << "  long i;\n  for (i = 0; i < " << up << "_INPUT_SIZE; ++i) {\n    float v = input[i];\n";
  if (normalize) {
    auto index = [](const std::vector<float>& v) {
      return v.size() == 1 ? std::string("0") : std::string("i");
    };
    out << "    v = (v - " << p << "_input_offset[" << index(net.input_offset) << "]) / " << p
        << "_input_divisor[" << index(net.input_divisor) << "];\n";
  }
  // sat(round(d) + zp) = sat(round(d), lo - zp, hi - zp) + zp: the bounds are integers.
  const int64_t zp = net.input.zero_point;
  out << "    input_codes[i] = " << p << "_round_code((double)v / " << up << "_INPUT_SCALE, "
      << Int64Literal(net.input.Min() - zp) << ", " << Int64Literal(net.input.Max() - zp) << ") + "
      << zp << ";\n  }\n}\n#endif\n";
}

// The header comment's words for the rounding (half-even's are those of earlier exports).
std::string RoundingText(RoundingMode mode) {
  switch (mode) {
    case RoundingMode::kHalfAway:
      return "round-half-away-from-zero shifts";
    case RoundingMode::kHalfUp:
      return "round-half-up shifts";
    case RoundingMode::kTflite:
      return "TFLite's (gemmlowp's) two roundings";
    default:
      return "round-half-to-even shifts";
  }
}

}  // namespace

void CheckCHeaderPrefix(const std::string& prefix) {
  bool identifier = !prefix.empty() && !std::isdigit(static_cast<unsigned char>(prefix[0]));
  for (char c : prefix)
    identifier = identifier && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  if (!identifier) throw Error(ExitCode::kUsage, "--prefix '" + prefix + "' is not a C identifier");
}

std::string ExportCHeader(const QuantizedNetwork& net, const std::string& prefix) {
  CheckCHeaderPrefix(prefix);
  if (net.float_activations) {
    throw BadInput(
        net.name, "",
        "weights-only network (float activations): a C header needs integer activations; "
        "quantize with \"activations\": {\"bits\": 8}");
  }
  int logit_layer = net.LogitLayer();
  if (logit_layer < 0) throw BadInput(net.name, "", "no linear layer: nothing to export");
  size_t max_size = 0;
  std::vector<std::string> weight_types;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const QuantLayer& l = net.layers[i];
    CheckLayer(net, l, i);
    max_size = std::max<size_t>(max_size, static_cast<size_t>(l.output_shape.Size()));
    if (l.IsLinear() && std::find(weight_types.begin(), weight_types.end(),
                                  WeightType(l.weight_bits)) == weight_types.end()) {
      weight_types.push_back(WeightType(l.weight_bits));
    }
  }
  const std::string& p = prefix;
  const std::string up = Upper(prefix);
  const int classes = net.NumClasses();
  // An argmin network was negated for the integer pass (OrientForDecision): predict() takes the
  // argmax of the negated logits and hands out the logits in the loaded orientation.
  const bool argmin = net.decision == Decision::kArgmin;
  std::ostringstream out;
  out << "/* " << CommentSafe(net.name) << ": integer-only inference, generated by qrepair "
      << kVersion << ".\n"
      << "\n"
      << "   int " << p << "_predict(const int32_t* input_codes, int32_t* logits_out);\n"
      << "     input_codes: " << up << "_INPUT_SIZE codes in [" << up << "_INPUT_CODE_MIN, " << up
      << "_INPUT_CODE_MAX], CHW order\n"
      << "     logits_out:  " << up << "_NUM_CLASSES int32 logits, all at one scale\n"
      << (argmin ? "     returns the decision: the class with the LOWEST logit (the lowest index "
                   "wins ties)\n"
                 : "     returns the top-1 class (the lowest index wins ties)\n")
      << "   void " << p
      << "_quantize_input(const float* input, int32_t* input_codes);  (uses float)\n"
      << "\n"
      << "   Integer arithmetic only: int64 accumulators, requantization by 31-bit multipliers "
         "with\n"
      << "   " << RoundingText(net.rounding)
      << ", saturation. Bit-identical to qrepair's reference integer "
         "pass.\n"
      << "   Scratch: two static int32 buffers of " << up
      << "_BUFFER_SIZE elements (not reentrant).\n"
      << "   Every name starts with " << p << "_ or " << up
      << "_; the functions are static, so the\n"
      << "   header may be included by several translation units. */\n"
      << "#ifndef " << up << "_H_\n#define " << up << "_H_\n\n#include <stdint.h>\n\n"
      << "#define " << up << "_INPUT_SIZE " << net.input_shape.Size() << "\n"
      << "#define " << up << "_INPUT_CHANNELS " << net.input_shape.channels << "\n"
      << "#define " << up << "_INPUT_HEIGHT " << net.input_shape.height << "\n"
      << "#define " << up << "_INPUT_WIDTH " << net.input_shape.width << "\n"
      << "#define " << up << "_INPUT_CODE_MIN " << Int64Literal(net.input.Min()) << "\n"
      << "#define " << up << "_INPUT_CODE_MAX " << Int64Literal(net.input.Max()) << "\n"
      << "#define " << up << "_INPUT_SCALE " << DoubleLiteral(net.input.scale) << "\n"
      << "#define " << up << "_INPUT_ZERO_POINT " << Int64Literal(net.input.zero_point) << "\n"
      << "#define " << up << "_NUM_CLASSES " << classes << "\n"
      << (argmin ? "/* The decision is the lowest logit (the config's \"decision\": \"argmin\"). "
                   "*/\n#define " +
                       up + "_DECISION_ARGMIN 1\n"
                 : std::string())
      << "/* Real logit = code * " << up << "_LOGIT_SCALE. */\n"
      << "#define " << up << "_LOGIT_SCALE " << DoubleLiteral(net.layers[logit_layer].output.scale)
      << "\n"
      << "#define " << up << "_BUFFER_SIZE " << max_size << "\n";
  out << CHeaderRuntime(p, weight_types, net.rounding);

  std::ostringstream calls;
  int next = 0;  // scratch buffer the next layer writes
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const QuantLayer& l = net.layers[i];
    const std::string id = p + "_l" + std::to_string(i);
    out << "\n/* layer " << i << " '" << CommentSafe(l.name) << "': " << Describe(l) << " */\n";
    calls << "  /* " << i << " '" << CommentSafe(l.name) << "' */\n";
    if (l.kind == LayerKind::kFlatten) {
      out << "/* (no data: flattening keeps the CHW order) */\n";
      continue;
    }
    const std::string y = "buffer[" + std::to_string(next) + "]";
    if (l.IsLinear()) {
      EmitLinearData(out, p, id, l);
      std::string type = WeightType(l.weight_bits);
      std::string short_type = type.substr(0, type.size() - 2);
      if (l.kind == LayerKind::kDense) {
        calls << "  " << p << "_dense_" << short_type << "(x, " << y << ", " << id << "_weights, "
              << id << "_bias, " << l.FanIn() << ", " << l.Units() << ", &" << id << "_requant);\n";
      } else {
        out << "static const " << p << "_geometry_t " << id << "_geometry = " << GeometryInit(l)
            << ";\n";
        calls << "  " << p << "_conv_" << short_type << "(x, " << y << ", " << id << "_weights, "
              << id << "_bias, &" << id << "_geometry, &" << id << "_requant);\n";
      }
    } else if (l.kind == LayerKind::kRelu) {
      calls << "  " << p << "_relu(x, " << y << ", " << l.output_shape.Size() << ", "
            << l.input.zero_point << ");\n";
    } else {
      out << "static const " << p << "_geometry_t " << id << "_geometry = " << GeometryInit(l)
          << ";\n";
      calls << "  " << p << "_pool(x, " << y << ", &" << id << "_geometry, "
            << (l.kind == LayerKind::kMaxPool ? 1 : 0) << ", " << l.input.zero_point << ");\n";
    }
    calls << "  x = " << y << ";\n";
    next = 1 - next;
  }

  out << "\nstatic inline int " << p
      << "_predict(const int32_t* input_codes, int32_t* logits_out) {\n"
      << "  static int32_t buffer[2][" << up << "_BUFFER_SIZE];\n"
      << "  const int32_t* x = input_codes;\n  int i;\n"
      << calls.str() << "  for (i = 0; i < " << up
      << "_NUM_CLASSES; ++i) logits_out[i] = " << (argmin ? "-x[i]" : "x[i]") << ";\n"
      << "  return " << p << "_argmax(x, " << up << "_NUM_CLASSES);\n}\n";
  EmitInputQuantization(out, net, p, up);
  out << "\n#endif /* " << up << "_H_ */\n";
  return out.str();
}

}  // namespace qrepair
