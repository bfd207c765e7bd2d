// Parsing of the quantization config JSON (format in README "Quantization config").
#include "qrepair/quant/quant_config.h"

#include <nlohmann/json.hpp>
#include <set>

#include "io/json_file.h"
#include "qrepair/error.h"

namespace qrepair {

using nlohmann::json;

namespace {

void RefuseUnknownKeys(const json& object, const std::set<std::string>& known,
                       const std::string& source, const std::string& path) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (known.count(it.key()) == 0) {
      std::string expected;
      for (const auto& k : known) expected += (expected.empty() ? "" : ", ") + k;
      throw BadInput(source, path + "." + it.key(), "unknown key; expected one of: " + expected);
    }
  }
}

int ReadBits(const json& value, const std::string& source, const std::string& path, int lo,
             int hi) {
  if (!value.is_number_integer()) throw BadInput(source, path, "expected an integer bit width");
  int64_t bits = value.get<int64_t>();
  if (bits < lo || bits > hi) {
    throw BadInput(source, path,
                   "bit width " + std::to_string(bits) + " out of range " + std::to_string(lo) +
                       ".." + std::to_string(hi));
  }
  return static_cast<int>(bits);
}

void ReadWeightSpec(const json& object, LayerQuantSpec& spec, const std::string& source,
                    const std::string& path) {
  if (!object.is_object()) throw BadInput(source, path, "expected an object");
  RefuseUnknownKeys(object, {"bits", "granularity", "scale"}, source, path);
  if (object.contains("bits"))
    spec.weight_bits = ReadBits(object["bits"], source, path + ".bits", 2, 16);
  if (object.contains("granularity")) {
    const json& g = object["granularity"];
    if (g == "per-tensor") {
      spec.granularity = Granularity::kPerTensor;
    } else if (g == "per-channel") {
      spec.granularity = Granularity::kPerChannel;
    } else {
      throw BadInput(source, path + ".granularity", "expected \"per-tensor\" or \"per-channel\"");
    }
  }
  if (object.contains("scale")) {
    spec.scale_given = true;
    const json& s = object["scale"];
    spec.scale_rule =
        ParseScaleRule(s.is_string() ? s.get<std::string>() : s.dump(), source, path + ".scale");
  }
}

}  // namespace

const char* ScaleRuleName(ScaleRule rule) {
  switch (rule) {
    case ScaleRule::kMaxAbs:
      return "max-abs";
    case ScaleRule::kPowerOfTwo:
      return "power-of-two";
    case ScaleRule::kMse:
      return "mse";
  }
  return "?";
}

ScaleRule ParseScaleRule(const std::string& name, const std::string& source,
                         const std::string& path) {
  for (ScaleRule rule : {ScaleRule::kMaxAbs, ScaleRule::kPowerOfTwo, ScaleRule::kMse}) {
    if (name == ScaleRuleName(rule)) return rule;
  }
  throw BadInput(source, path, "expected \"max-abs\", \"power-of-two\" or \"mse\"");
}

LayerQuantSpec QuantConfig::ForLayer(const std::string& name) const {
  auto it = layers.find(name);
  return it == layers.end() ? defaults : it->second;
}

QuantConfig ParseQuantConfig(const json& root, const std::string& source) {
  if (!root.is_object()) throw BadInput(source, "$", "expected a JSON object");
  RefuseUnknownKeys(root,
                    {"weights", "activations", "layers", "scale", "decision", "rounding", "logits"},
                    source, "$");
  QuantConfig config;
  config.source = source;
  if (!root.contains("weights")) throw BadInput(source, "$", "missing key \"weights\"");
  ReadWeightSpec(root["weights"], config.defaults, source, "$.weights");
  if (root.contains("scale")) {  // top-level shorthand for weights.scale
    json w = {{"scale", root["scale"]}};
    ReadWeightSpec(w, config.defaults, source, "$");
  }
  if (root.contains("activations")) {
    const json& a = root["activations"];
    if (a == "float") {
      config.activation_bits = 0;
    } else if (a.is_object()) {
      RefuseUnknownKeys(a, {"bits", "symmetric", "signed"}, source, "$.activations");
      if (!a.contains("bits")) throw BadInput(source, "$.activations", "missing key \"bits\"");
      config.activation_bits = ReadBits(a["bits"], source, "$.activations.bits", 2, 16);
      if (a.contains("symmetric")) {
        if (!a["symmetric"].is_boolean())
          throw BadInput(source, "$.activations.symmetric", "expected true or false");
        config.activation_symmetric = a["symmetric"].get<bool>();
      }
      if (a.contains("signed")) {
        if (!a["signed"].is_boolean())
          throw BadInput(source, "$.activations.signed", "expected true or false");
        // Symmetric codes are signed exactly where the values go below 0; only a zero point
        // leaves the choice to the runtime.
        if (config.activation_symmetric) {
          throw BadInput(source, "$.activations.signed",
                         "applies to asymmetric codes only (\"symmetric\": false)");
        }
        config.activation_signed = a["signed"].get<bool>();
      }
    } else {
      throw BadInput(source, "$.activations", "expected {\"bits\": N} or \"float\"");
    }
  }
  if (root.contains("decision")) {
    const json& d = root["decision"];
    if (d == "argmax") {
      config.decision = Decision::kArgmax;
    } else if (d == "argmin") {
      config.decision = Decision::kArgmin;
    } else {
      throw BadInput(source, "$.decision", "expected \"argmax\" or \"argmin\"");
    }
  }
  if (root.contains("logits")) {
    const json& l = root["logits"];
    if (l == "int32") {
      config.logit_bits = 32;
    } else if (l.is_object()) {
      RefuseUnknownKeys(l, {"bits"}, source, "$.logits");
      if (!l.contains("bits")) throw BadInput(source, "$.logits", "missing key \"bits\"");
      config.logit_bits = ReadBits(l["bits"], source, "$.logits.bits", 2, 16);
    } else {
      throw BadInput(source, "$.logits", "expected \"int32\" or {\"bits\": N} (N in 2..16)");
    }
  }
  if (root.contains("rounding")) {
    const json& r = root["rounding"];
    if (!r.is_string() || !ParseRoundingMode(r.get<std::string>(), &config.rounding)) {
      throw BadInput(source, "$.rounding",
                     "expected \"half-even\", \"half-away\", \"half-up\" or \"tflite\"");
    }
  }
  if (root.contains("layers")) {
    const json& layers = root["layers"];
    if (!layers.is_object())
      throw BadInput(source, "$.layers", "expected an object keyed by layer name");
    for (auto it = layers.begin(); it != layers.end(); ++it) {
      LayerQuantSpec spec = config.defaults;
      ReadWeightSpec(it.value(), spec, source, "$.layers." + it.key());
      config.layers[it.key()] = spec;
    }
  }
  return config;
}

QuantConfig LoadQuantConfig(const std::string& path) {
  return ParseQuantConfig(ReadJsonFile(path, "cannot open the quantization config"), path);
}

namespace {
json SpecToJson(const LayerQuantSpec& spec) {
  return {
      {"bits", spec.weight_bits},
      {"granularity", spec.granularity == Granularity::kPerTensor ? "per-tensor" : "per-channel"},
      {"scale", ScaleRuleName(spec.scale_rule)}};
}
}  // namespace

void to_json(json& out, const QuantConfig& config) {
  out = json::object();
  out["weights"] = SpecToJson(config.defaults);
  if (config.FloatActivations()) {
    out["activations"] = "float";
  } else {
    out["activations"] = {{"bits", config.activation_bits}};
    if (!config.activation_symmetric) out["activations"]["symmetric"] = false;
    if (config.activation_signed) out["activations"]["signed"] = true;
  }
  if (!config.layers.empty()) {
    json layers = json::object();
    for (const auto& [name, spec] : config.layers) layers[name] = SpecToJson(spec);
    out["layers"] = layers;
  }
  if (config.decision == Decision::kArgmin) out["decision"] = "argmin";
  if (config.logit_bits < 32) out["logits"] = {{"bits", config.logit_bits}};
  // Written only when not the default, so files of the default semantics stay as they were.
  if (config.rounding != RoundingMode::kHalfEven)
    out["rounding"] = RoundingModeName(config.rounding);
}

}  // namespace qrepair
