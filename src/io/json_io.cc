// qrepair JSON model format (README "Model JSON"): float network, optional quantized network,
// provenance. Doubles are written with 17 significant digits, so a file round-trips exactly.
#include "qrepair/io/json_io.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "io/fixed_point_json.h"
#include "io/json_file.h"
#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"

namespace qrepair {

using nlohmann::json;

namespace {

const std::map<std::string, LayerKind>& KindsByName() {
  static const std::map<std::string, LayerKind> kinds = {
      {"dense", LayerKind::kDense},        {"conv2d", LayerKind::kConv2d},
      {"relu", LayerKind::kRelu},          {"leaky_relu", LayerKind::kLeakyRelu},
      {"sigmoid", LayerKind::kSigmoid},    {"max_pool", LayerKind::kMaxPool},
      {"avg_pool", LayerKind::kAvgPool},   {"flatten", LayerKind::kFlatten},
      {"normalize", LayerKind::kNormalize}};
  return kinds;
}

json ShapeToJson(const Shape& s) { return json::array({s.channels, s.height, s.width}); }
json WindowToJson(const Window& w) {
  return {{"kernel", {w.kernel_h, w.kernel_w}},
          {"stride", {w.stride_h, w.stride_w}},
          {"pads", {w.pad_top, w.pad_left, w.pad_bottom, w.pad_right}}};
}
bool HasWindow(LayerKind k) {
  return k == LayerKind::kConv2d || k == LayerKind::kMaxPool || k == LayerKind::kAvgPool;
}

// Typed access that reports the JSON path of anything missing or mistyped.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}
  const json& Get(const json& obj, const std::string& key, const std::string& path) const {
    if (!obj.is_object()) throw BadInput(source_, path, "expected an object");
    auto it = obj.find(key);
    if (it == obj.end()) throw BadInput(source_, path, "missing key \"" + key + "\"");
    return *it;
  }
  int64_t Int(const json& obj, const std::string& key, const std::string& path, int64_t lo,
              int64_t hi) const {
    const json& v = Get(obj, key, path);
    if (!v.is_number_integer()) throw BadInput(source_, path + "." + key, "expected an integer");
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) {
      throw BadInput(source_, path + "." + key,
                     "value " + std::to_string(x) + " out of range " + std::to_string(lo) + ".." +
                         std::to_string(hi));
    }
    return x;
  }
  double Double(const json& v, const std::string& path) const {
    if (!v.is_number()) throw BadInput(source_, path, "expected a number");
    double x = v.get<double>();
    if (!std::isfinite(x)) throw BadInput(source_, path, "expected a finite number");
    return x;
  }
  std::string String(const json& obj, const std::string& key, const std::string& path) const {
    const json& v = Get(obj, key, path);
    if (!v.is_string()) throw BadInput(source_, path + "." + key, "expected a string");
    return v.get<std::string>();
  }
  template <typename T>
  std::vector<T> Array(const json& obj, const std::string& key, const std::string& path,
                       bool optional = false) const {
    std::vector<T> out;
    if (optional && (!obj.is_object() || !obj.contains(key))) return out;
    const json& v = Get(obj, key, path);
    std::string p = path + "." + key;
    if (!v.is_array()) throw BadInput(source_, p, "expected an array");
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const json& e = v[i];
      std::string ep = p + "[" + std::to_string(i) + "]";
      if constexpr (std::is_integral_v<T>) {
        if (!e.is_number_integer()) throw BadInput(source_, ep, "expected an integer");
        int64_t x = e.get<int64_t>();
        if (x < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
            x > static_cast<int64_t>(std::numeric_limits<T>::max())) {
          throw BadInput(source_, ep, "integer out of range");
        }
        out.push_back(static_cast<T>(x));
      } else {
        out.push_back(static_cast<T>(Double(e, ep)));
      }
    }
    return out;
  }
  Shape ShapeAt(const json& obj, const std::string& key, const std::string& path) const {
    auto dims = Array<int64_t>(obj, key, path);
    if (dims.size() != 3)
      throw BadInput(source_, path + "." + key, "expected [channels, height, width]");
    for (int64_t d : dims) {
      if (d <= 0 || d > (1 << 28))
        throw BadInput(source_, path + "." + key, "dimension out of range");
    }
    return Shape{static_cast<int>(dims[0]), static_cast<int>(dims[1]), static_cast<int>(dims[2])};
  }
  Window WindowAt(const json& obj, const std::string& path) const {
    auto k = Array<int32_t>(obj, "kernel", path);
    auto s = Array<int32_t>(obj, "stride", path);
    auto p = Array<int32_t>(obj, "pads", path);
    if (k.size() != 2 || s.size() != 2 || p.size() != 4) {
      throw BadInput(source_, path,
                     "expected kernel [h,w], stride [h,w], pads [top,left,bottom,right]");
    }
    return Window{k[0], k[1], s[0], s[1], p[0], p[1], p[2], p[3]};
  }
  LayerKind Kind(const json& obj, const std::string& path) const {
    std::string type = String(obj, "type", path);
    auto it = KindsByName().find(type);
    if (it == KindsByName().end())
      throw BadInput(source_, path + ".type", "unknown layer type '" + type + "'");
    return it->second;
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

json CodeToJson(const ActivationCode& c) {
  json j = {{"scale", c.scale}, {"bits", c.bits}, {"signed", c.is_signed}};
  if (c.zero_point != 0) j["zero_point"] = c.zero_point;  // absent: 0 (files stay as they were)
  return j;
}
ActivationCode CodeFromJson(const Reader& r, const json& obj, const std::string& path) {
  ActivationCode c;
  c.scale = r.Double(r.Get(obj, "scale", path), path + ".scale");
  if (!(c.scale > 0)) throw BadInput(r.source(), path + ".scale", "expected a positive scale");
  c.bits = static_cast<int>(r.Int(obj, "bits", path, 2, 32));
  const json& s = r.Get(obj, "signed", path);
  if (!s.is_boolean()) throw BadInput(r.source(), path + ".signed", "expected true or false");
  c.is_signed = s.get<bool>();
  if (!c.is_signed && c.bits == 32) {  // codes are int32: [0, 2^32 - 1] does not fit
    throw BadInput(r.source(), path + ".bits",
                   "an unsigned code has at most 31 bits (codes are int32)");
  }
  if (obj.contains("zero_point")) {
    c.zero_point = r.Int(obj, "zero_point", path, c.Min(), c.Max());
    if (c.bits == 32 && c.zero_point != 0) {
      throw BadInput(r.source(), path + ".zero_point", "int32 logits have zero point 0");
    }
  }
  return c;
}

const char* ActivationName(QActivation a) {
  return a == QActivation::kRelu ? "relu" : (a == QActivation::kLeakyRelu ? "leaky_relu" : "none");
}

}  // namespace

json NetworkToJson(const Network& network) {
  json layers = json::array();
  for (const Layer& l : network.layers) {
    json j = {{"name", l.name}, {"type", LayerKindName(l.kind)}};
    if (l.IsLinear()) {
      j["weights"] = l.weights;
      j["bias"] = l.bias;
    }
    if (HasWindow(l.kind)) j.update(WindowToJson(l.window));
    if (l.kind == LayerKind::kLeakyRelu) j["alpha"] = l.alpha;
    if (l.kind == LayerKind::kNormalize) {
      j["offset"] = l.offset;
      j["divisor"] = l.divisor;
    }
    layers.push_back(std::move(j));
  }
  return {{"name", network.name},
          {"input_shape", ShapeToJson(network.input_shape)},
          {"layers", layers}};
}

Network NetworkFromJson(const json& root, const std::string& source) {
  Reader r(source);
  Network net;
  const std::string path = "$.network";
  if (root.contains("name") && root["name"].is_string()) net.name = root["name"].get<std::string>();
  net.input_shape = r.ShapeAt(root, "input_shape", path);
  const json& layers = r.Get(root, "layers", path);
  if (!layers.is_array()) throw BadInput(source, path + ".layers", "expected an array");
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string p = path + ".layers[" + std::to_string(i) + "]";
    const json& j = layers[i];
    Layer l;
    l.kind = r.Kind(j, p);
    l.name = r.String(j, "name", p);
    if (l.IsLinear()) {
      l.weights = r.Array<float>(j, "weights", p);
      l.bias = r.Array<float>(j, "bias", p);
    }
    if (HasWindow(l.kind)) l.window = r.WindowAt(j, p);
    if (l.kind == LayerKind::kLeakyRelu)
      l.alpha = static_cast<float>(r.Double(r.Get(j, "alpha", p), p + ".alpha"));
    if (l.kind == LayerKind::kNormalize) {
      l.offset = r.Array<float>(j, "offset", p);
      l.divisor = r.Array<float>(j, "divisor", p);
    }
    net.layers.push_back(std::move(l));
  }
  ValidateNetwork(net, source);
  return net;
}

namespace {

json QuantizedToJson(const QuantizedNetwork& q) {
  json layers = json::array();
  for (const QuantLayer& l : q.layers) {
    json j = {{"name", l.name},
              {"type", LayerKindName(l.kind)},
              {"input_shape", ShapeToJson(l.input_shape)},
              {"output_shape", ShapeToJson(l.output_shape)}};
    if (HasWindow(l.kind)) j.update(WindowToJson(l.window));
    if (!q.float_activations) {
      j["input"] = CodeToJson(l.input);
      j["output"] = CodeToJson(l.output);
    }
    if (l.kind == LayerKind::kLeakyRelu) j["alpha"] = l.leaky_alpha;
    if (l.IsLinear()) {
      j["activation"] = ActivationName(l.activation);
      if (l.activation == QActivation::kLeakyRelu) j["alpha"] = l.leaky_alpha;
      j["weight_bits"] = l.weight_bits;
      j["granularity"] = l.granularity == Granularity::kPerTensor ? "per-tensor" : "per-channel";
      j["weight_scales"] = l.weight_scales;
      j["weights_q"] = l.weights_q;
      if (q.float_activations) {
        j["bias_float"] = l.bias_float;
      } else {
        j["bias_q"] = l.bias_q;
      }
    }
    layers.push_back(std::move(j));
  }
  json out = {{"config", q.config}, {"float_activations", q.float_activations}, {"layers", layers}};
  if (!q.float_activations) out["input"] = CodeToJson(q.input);
  // Written only when not the default: files without it are half-even (and stay byte-identical).
  if (q.rounding != RoundingMode::kHalfEven) out["rounding"] = RoundingModeName(q.rounding);
  if (!q.input_offset.empty()) {
    out["input_offset"] = q.input_offset;
    out["input_divisor"] = q.input_divisor;
  }
  return out;
}

// `float_net` is null for an integer network with no float network behind it: then the
// quantized object names its own "input_shape" (and "name").
QuantizedNetwork QuantizedFromJson(const json& root, const Network* float_net,
                                   const std::string& source) {
  Reader r(source);
  const std::string path = "$.quantized";
  QuantizedNetwork q;
  if (float_net) {
    q.name = float_net->name;
    q.input_shape = float_net->input_shape;
  } else {
    q.input_shape = r.ShapeAt(root, "input_shape", path);
    if (root.contains("name") && root["name"].is_string()) q.name = root["name"].get<std::string>();
  }
  q.config = ParseQuantConfig(r.Get(root, "config", path), source);
  // Facts this format records only inside its config: read from it once, here.
  q.decision = q.config.decision;
  const json& fa = r.Get(root, "float_activations", path);
  if (!fa.is_boolean())
    throw BadInput(source, path + ".float_activations", "expected true or false");
  q.float_activations = fa.get<bool>();
  if (!q.float_activations) q.input = CodeFromJson(r, r.Get(root, "input", path), path + ".input");
  if (root.contains("rounding")) {
    const json& mode = root["rounding"];
    if (!mode.is_string() || !ParseRoundingMode(mode.get<std::string>(), &q.rounding)) {
      throw BadInput(source, path + ".rounding",
                     "expected \"half-even\", \"half-away\", \"half-up\" or \"tflite\"");
    }
  }
  q.input_offset = r.Array<float>(root, "input_offset", path, true);
  q.input_divisor = r.Array<float>(root, "input_divisor", path, true);
  if (q.input_offset.size() != q.input_divisor.size()) {
    throw BadInput(source, path + ".input_divisor", "expected as many values as input_offset");
  }
  // QuantizeInput reads value i (or the only one) of each and divides by the divisor.
  const size_t features = static_cast<size_t>(q.input_shape.Size());
  if (!q.input_offset.empty() && q.input_offset.size() != 1 && q.input_offset.size() != features) {
    throw BadInput(source, path + ".input_offset",
                   "has " + std::to_string(q.input_offset.size()) + " values, expected 1 or " +
                       std::to_string(features) + " (the input's size)");
  }
  for (size_t i = 0; i < q.input_divisor.size(); ++i) {
    if (q.input_divisor[i] == 0.0f) {
      throw BadInput(source, path + ".input_divisor[" + std::to_string(i) + "]",
                     "expected a non-zero divisor");
    }
  }
  const json& layers = r.Get(root, "layers", path);
  if (!layers.is_array() || layers.empty())
    throw BadInput(source, path + ".layers", "expected a non-empty array");
  Shape shape = q.input_shape;
  ActivationCode code = q.input;  // what the previous layer hands on
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string p = path + ".layers[" + std::to_string(i) + "]";
    const json& j = layers[i];
    QuantLayer l;
    l.rounding = q.rounding;
    l.kind = r.Kind(j, p);
    l.name = r.String(j, "name", p);
    l.input_shape = r.ShapeAt(j, "input_shape", p);
    l.output_shape = r.ShapeAt(j, "output_shape", p);
    if (l.input_shape != shape) {
      throw BadInput(source, p + ".input_shape",
                     "is " + l.input_shape.ToString() + ", expected " + shape.ToString() +
                         " from the previous layer");
    }
    if (HasWindow(l.kind)) l.window = r.WindowAt(j, p);
    if (!q.float_activations) {
      l.input = CodeFromJson(r, r.Get(j, "input", p), p + ".input");
      l.output = CodeFromJson(r, r.Get(j, "output", p), p + ".output");
      // The integer pass feeds each layer the previous layer's codes; exports use each layer's own
      // input code, so the two must be the same code.
      if (l.input.scale != code.scale || l.input.bits != code.bits ||
          l.input.is_signed != code.is_signed || l.input.zero_point != code.zero_point) {
        throw BadInput(source, p + ".input",
                       "differs from the code the previous layer (or the network input) produces");
      }
      code = l.output;
    }
    if (j.contains("alpha")) l.leaky_alpha = static_cast<float>(r.Double(j["alpha"], p + ".alpha"));
    Layer mirror;  // reuse the float shape rules
    mirror.kind = l.kind;
    mirror.name = l.name;
    mirror.window = l.window;
    if (l.IsLinear()) {
      std::string act = r.String(j, "activation", p);
      if (act == "relu")
        l.activation = QActivation::kRelu;
      else if (act == "leaky_relu")
        l.activation = QActivation::kLeakyRelu;
      else if (act == "none")
        l.activation = QActivation::kNone;
      else
        throw BadInput(source, p + ".activation", "expected \"none\", \"relu\" or \"leaky_relu\"");
      if (l.activation == QActivation::kLeakyRelu && l.leaky_alpha < 0) {
        throw BadInput(source, p + ".alpha",
                       "expected alpha >= 0 (a negative one has no integer semantics)");
      }
      l.weight_bits = static_cast<int>(r.Int(j, "weight_bits", p, 2, 16));
      std::string g = r.String(j, "granularity", p);
      if (g != "per-tensor" && g != "per-channel") {
        throw BadInput(source, p + ".granularity", "expected \"per-tensor\" or \"per-channel\"");
      }
      l.granularity = g == "per-tensor" ? Granularity::kPerTensor : Granularity::kPerChannel;
      l.scale_rule = q.config.ForLayer(l.name).scale_rule;
      l.weight_scales = r.Array<double>(j, "weight_scales", p);
      l.weights_q = r.Array<int32_t>(j, "weights_q", p);
      if (q.float_activations) {
        l.bias_float = r.Array<float>(j, "bias_float", p);
      } else {
        l.bias_q = r.Array<int64_t>(j, "bias_q", p);
      }
      size_t units = q.float_activations ? l.bias_float.size() : l.bias_q.size();
      mirror.weights.assign(l.weights_q.size(), 0.0f);
      mirror.bias.assign(units, 0.0f);
      size_t scales_expected = l.granularity == Granularity::kPerTensor ? 1 : units;
      if (l.weight_scales.size() != scales_expected) {
        throw BadInput(source, p + ".weight_scales",
                       "has " + std::to_string(l.weight_scales.size()) + " values, expected " +
                           std::to_string(scales_expected));
      }
      for (double s : l.weight_scales) {
        if (!(s > 0)) throw BadInput(source, p + ".weight_scales", "expected positive scales");
      }
      for (size_t k = 0; k < l.weights_q.size(); ++k) {
        if (l.weights_q[k] < l.WeightMin() || l.weights_q[k] > l.WeightMax()) {
          throw BadInput(source, p + ".weights_q[" + std::to_string(k) + "]",
                         "value " + std::to_string(l.weights_q[k]) + " outside the " +
                             std::to_string(l.weight_bits) + "-bit range");
        }
      }
      for (int64_t b : l.bias_q) {
        if (b < INT32_MIN || b > INT32_MAX)
          throw BadInput(source, p + ".bias_q", "bias outside the int32 range");
      }
    }
    Shape inferred = InferOutputShape(mirror, l.input_shape, source);
    if (inferred != l.output_shape) {
      throw BadInput(source, p + ".output_shape",
                     "is " + l.output_shape.ToString() + ", expected " + inferred.ToString());
    }
    if (!q.float_activations) {
      l.UpdateMultipliers();
      for (const auto& m : l.requant) {
        if (m.shift == 0 && m.Value() >= 2147483648.0) {
          throw BadInput(source, p, "scales give a requantization multiplier >= 2^31");
        }
      }
      if (!l.IsLinear() && l.kind != LayerKind::kMaxPool && l.kind != LayerKind::kAvgPool &&
          l.kind != LayerKind::kFlatten && l.kind != LayerKind::kRelu) {
        throw BadInput(source, p + ".type",
                       std::string(LayerKindName(l.kind)) + " has no integer semantics");
      }
      CheckIntegerRanges(l, source, p);
    }
    shape = l.output_shape;
    q.layers.push_back(std::move(l));
  }
  // Both networks answer the same question: evaluation and the exports compare their outputs.
  if (float_net && q.NumClasses() != float_net->NumClasses()) {
    throw BadInput(source, path + ".layers",
                   "the quantized network has " + std::to_string(q.NumClasses()) +
                       " outputs, the float network " + std::to_string(float_net->NumClasses()));
  }
  return q;
}

// Files hold the float network as loaded; a negated one (an argmin decision) is restored.
Network AsLoaded(Network network) {
  OrientForDecision(network, Decision::kArgmax, network.name);
  return network;
}
}  // namespace

json ModelFileToJson(const ModelFile& model) {
  json out = {{"format", "qrepair-model"},
              {"version", kJsonFormatVersion},
              {"kind", model.has_quantized ? "quantized" : "float"}};
  // An integer network with no float network behind it is written without one (a stand-in is
  // never saved): its quantized object names its own input shape.
  if (!model.float_network.stand_in) out["network"] = NetworkToJson(AsLoaded(model.float_network));
  if (model.has_quantized) {
    out["quantized"] = QuantizedToJson(model.quantized);
    if (model.float_network.stand_in) {
      out["quantized"]["input_shape"] = ShapeToJson(model.quantized.input_shape);
      out["quantized"]["name"] = model.quantized.name;
    }
  }
  out["provenance"] = {{"source_model", model.provenance.source_model},
                       {"source_sha256", model.provenance.source_sha256},
                       {"tool_version", model.provenance.tool_version},
                       {"created_by", model.provenance.created_by}};
  return out;
}

ModelFile ModelFileFromJson(const json& root, const std::string& source) {
  Reader r(source);
  if (!root.is_object()) throw BadInput(source, "$", "expected a JSON object");
  std::string format = r.String(root, "format", "$");
  if (format != "qrepair-model") throw BadInput(source, "$.format", "expected \"qrepair-model\"");
  int64_t version = r.Int(root, "version", "$", 1, 1000);
  if (version > kJsonFormatVersion) {
    throw BadInput(source, "$.version",
                   "format version " + std::to_string(version) +
                       " is newer than this qrepair reads (" + std::to_string(kJsonFormatVersion) +
                       ")");
  }
  std::string kind = r.String(root, "kind", "$");
  if (kind != "float" && kind != "quantized" && kind != "fixed-point") {
    throw BadInput(source, "$.kind", "expected \"float\", \"quantized\" or \"fixed-point\"");
  }
  ModelFile model;
  if (kind == "fixed-point") {
    // A hand-written fixed-point design: translated to the quantized form, then read as one.
    model.has_quantized = true;
    model.quantized = QuantizedFromJson(
        FixedPointToQuantizedJson(r.Get(root, "fixed_point", "$"), source), nullptr, source);
    model.float_network = StandInNetwork(model.quantized, source);
  } else if (kind == "float" || root.contains("network")) {
    model.float_network = NetworkFromJson(r.Get(root, "network", "$"), source);
    if (kind == "quantized") {
      model.has_quantized = true;
      model.quantized =
          QuantizedFromJson(r.Get(root, "quantized", "$"), &model.float_network, source);
      // The quantized network decides by argmax in its own orientation; the float one follows.
      OrientForDecision(model.float_network, model.quantized.decision, source);
    }
  } else {  // a quantized network alone (what a repair of a fixed-point model writes)
    model.has_quantized = true;
    model.quantized = QuantizedFromJson(r.Get(root, "quantized", "$"), nullptr, source);
    model.float_network = StandInNetwork(model.quantized, source);
  }
  if (root.contains("provenance") && root["provenance"].is_object()) {
    const json& p = root["provenance"];
    auto str = [&](const char* k) {
      return p.contains(k) && p[k].is_string() ? p[k].get<std::string>() : "";
    };
    model.provenance = {str("source_model"), str("source_sha256"), str("tool_version"),
                        str("created_by")};
  }
  return model;
}

ModelFile LoadModelJson(const std::string& path) {
  return ModelFileFromJson(ReadJsonFile(path, "cannot open"), path);
}

}  // namespace qrepair
