// "kind": "fixed-point" model files: see fixed_point_json.h and the README's "Fixed-point models".
//
// A fixed-point design states, per layer, integer weights with f_w fraction bits (real weight
// w / 2^f_w), an input with f_in fraction bits, an integer bias at the accumulator's f_in + f_w
// fraction bits, and an output code of a given width and f_out fraction bits:
//   y = clamp(round(acc / 2^(f_in + f_w - f_out)), min, max)
// in the file's rounding mode (half-up for floor(x + 1/2), as Giacobbe et al. TACAS'20 and
// Henzinger et al. AAAI'21 write it). That is the canonical quantized layer with scales 2^-f: its
// multiplier 2^(f_out - f_in - f_w) is a power of two, held exactly (integer_ops.h).
#include "io/fixed_point_json.h"

#include <cmath>
#include <cstdint>
#include <set>

#include "qrepair/error.h"
#include "qrepair/quant/integer_ops.h"

namespace qrepair {

using nlohmann::json;

namespace {

class FixedPointReader {
 public:
  explicit FixedPointReader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void Fail(const std::string& path, const std::string& what) const {
    throw BadInput(source_, path, what);
  }
  const json& Get(const json& obj, const std::string& key, const std::string& path) const {
    if (!obj.is_object()) Fail(path, "expected an object");
    auto it = obj.find(key);
    if (it == obj.end()) Fail(path, "missing key \"" + key + "\"");
    return *it;
  }
  int64_t Int(const json& v, const std::string& path, int64_t lo, int64_t hi) const {
    if (!v.is_number_integer()) Fail(path, "expected an integer");
    const int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) {
      Fail(path, "value " + std::to_string(x) + " out of range " + std::to_string(lo) + ".." +
                     std::to_string(hi));
    }
    return x;
  }
  void RefuseUnknown(const json& obj, const std::set<std::string>& known,
                     const std::string& path) const {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (known.count(it.key()) == 0) Fail(path + "." + it.key(), "unknown key");
    }
  }
  // A flat array of integers, or nested arrays (rows) flattened in row-major order.
  void Flatten(const json& v, const std::string& path, int64_t lo, int64_t hi,
               std::vector<int64_t>& out) const {
    if (!v.is_array()) Fail(path, "expected an array of integers (or of arrays of them)");
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string p = path + "[" + std::to_string(i) + "]";
      if (v[i].is_array()) {
        Flatten(v[i], p, lo, hi, out);
      } else {
        out.push_back(Int(v[i], p, lo, hi));
      }
    }
  }
  // {"bits": B, "fraction_bits": F, "signed": S}: codes of B bits, real = code / 2^F.
  json Code(const json& obj, const std::string& path, int max_bits) const {
    if (!obj.is_object()) Fail(path, "expected {\"bits\", \"fraction_bits\", \"signed\"}");
    RefuseUnknown(obj, {"bits", "fraction_bits", "signed"}, path);
    const int64_t bits = Int(Get(obj, "bits", path), path + ".bits", 2, max_bits);
    const int64_t fraction = Int(Get(obj, "fraction_bits", path), path + ".fraction_bits", -32, 32);
    bool is_signed = false;
    if (obj.contains("signed")) {
      if (!obj["signed"].is_boolean()) Fail(path + ".signed", "expected true or false");
      is_signed = obj["signed"].get<bool>();
    }
    if (!is_signed && bits > 31) Fail(path + ".bits", "an unsigned code has at most 31 bits");
    return {{"scale", std::ldexp(1.0, static_cast<int>(-fraction))},
            {"bits", bits},
            {"signed", is_signed},
            {"fraction_bits", fraction}};
  }

 private:
  std::string source_;
};

json ShapeArray(const json& dims, const FixedPointReader& r, const std::string& path) {
  if (!dims.is_array() || (dims.size() != 1 && dims.size() != 3))
    r.Fail(path, "expected [features] or [channels, height, width]");
  std::vector<int64_t> d;
  for (size_t i = 0; i < dims.size(); ++i)
    d.push_back(r.Int(dims[i], path + "[" + std::to_string(i) + "]", 1, int64_t{1} << 28));
  return d.size() == 1 ? json::array({d[0], 1, 1}) : json::array({d[0], d[1], d[2]});
}

// A convolution's or pool's output shape from its "kernel", "stride" and "pads" (copied into
// `q`), by the usual formula; the canonical reader checks it again.
json WindowShape(const json& l, const FixedPointReader& r, const std::string& p, const json& in,
                 int64_t channels, json& q) {
  std::vector<int64_t> w;
  const std::pair<const char*, size_t> keys[] = {{"kernel", 2}, {"stride", 2}, {"pads", 4}};
  for (const auto& [key, n] : keys) {
    const json& v = r.Get(l, key, p);
    const std::string kp = p + "." + key;
    if (!v.is_array() || v.size() != n)
      r.Fail(kp, std::string("expected ") +
                     (n == 2 ? "[height, width]" : "[top, left, bottom, right]"));
    for (size_t i = 0; i < n; ++i)
      w.push_back(r.Int(v[i], kp + "[" + std::to_string(i) + "]",
                        key == std::string("pads") ? 0 : 1, 1 << 20));
    q[key] = v;
  }
  const int64_t h = (in[1].get<int64_t>() + w[4] + w[6] - w[0]) / w[2] + 1;
  const int64_t wd = (in[2].get<int64_t>() + w[5] + w[7] - w[1]) / w[3] + 1;
  if (in[1].get<int64_t>() + w[4] + w[6] < w[0] || in[2].get<int64_t>() + w[5] + w[7] < w[1] ||
      h <= 0 || wd <= 0)
    r.Fail(p + ".kernel", "is larger than the padded input");
  return json::array({channels, h, wd});
}

int64_t ShapeSize(const json& shape) {
  return shape[0].get<int64_t>() * shape[1].get<int64_t>() * shape[2].get<int64_t>();
}

}  // namespace

json FixedPointToQuantizedJson(const json& root, const std::string& source) {
  const FixedPointReader r(source);
  const std::string path = "$.fixed_point";
  if (!root.is_object()) r.Fail(path, "expected an object");
  r.RefuseUnknown(root, {"name", "input_shape", "input", "rounding", "decision", "layers"}, path);
  json out;
  out["name"] = root.contains("name") && root["name"].is_string() ? root["name"] : json("");
  out["input_shape"] = ShapeArray(r.Get(root, "input_shape", path), r, path + ".input_shape");
  const std::string rounding = root.contains("rounding") && root["rounding"].is_string()
                                   ? root["rounding"].get<std::string>()
                                   : "half-even";
  RoundingMode mode = RoundingMode::kHalfEven;
  if (!ParseRoundingMode(rounding, &mode)) {
    r.Fail(path + ".rounding", "expected \"half-even\", \"half-away\", \"half-up\" or \"tflite\"");
  }
  json code = r.Code(r.Get(root, "input", path), path + ".input", 16);
  json input_code = code;  // the network input's code, without its fraction bits
  input_code.erase("fraction_bits");
  int64_t fraction = code["fraction_bits"].get<int64_t>();
  const json& layers = r.Get(root, "layers", path);
  if (!layers.is_array() || layers.empty()) r.Fail(path + ".layers", "expected a non-empty array");

  json config = {{"weights", {{"bits", 8}, {"scale", "power-of-two"}}},
                 {"layers", json::object()},
                 {"activations", {{"bits", code["bits"]}}},
                 {"rounding", rounding}};
  if (root.contains("decision")) config["decision"] = root["decision"];
  json shape = out["input_shape"];
  json qlayers = json::array();
  int last_linear = -1;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string p = path + ".layers[" + std::to_string(i) + "]";
    const json& l = layers[i];
    if (!l.is_object()) r.Fail(p, "expected an object");
    const json& type_value = r.Get(l, "type", p);
    if (!type_value.is_string()) r.Fail(p + ".type", "expected a string");
    const std::string type = type_value.get<std::string>();
    const std::string name = l.contains("name") && l["name"].is_string()
                                 ? l["name"].get<std::string>()
                                 : "layer" + std::to_string(i);
    json q = {{"name", name}, {"type", type}, {"input_shape", shape}};
    json in_code = code;
    in_code.erase("fraction_bits");
    q["input"] = in_code;
    json out_shape;
    if (type == "dense" || type == "conv2d") {
      const bool dense = type == "dense";
      std::set<std::string> known = {"name",    "type", "weight_bits", "weight_fraction_bits",
                                     "weights", "bias", "activation",  "output"};
      if (!dense) known.insert({"kernel", "stride", "pads"});
      r.RefuseUnknown(l, known, p);
      const int64_t wbits = r.Int(r.Get(l, "weight_bits", p), p + ".weight_bits", 2, 16);
      const int64_t wfrac =
          r.Int(r.Get(l, "weight_fraction_bits", p), p + ".weight_fraction_bits", -32, 32);
      std::vector<int64_t> weights, bias;
      r.Flatten(r.Get(l, "weights", p), p + ".weights", SignedMin(static_cast<int>(wbits)),
                SignedMax(static_cast<int>(wbits)), weights);
      r.Flatten(r.Get(l, "bias", p), p + ".bias", INT32_MIN, INT32_MAX, bias);
      if (bias.empty()) r.Fail(p + ".bias", "expected one integer per output unit");
      const int64_t units = static_cast<int64_t>(bias.size());
      int64_t fan_in = ShapeSize(shape);
      if (dense) {
        out_shape = json::array({units, 1, 1});
      } else {
        out_shape = WindowShape(l, r, p, shape, units, q);
        fan_in =
            shape[0].get<int64_t>() * q["kernel"][0].get<int64_t>() * q["kernel"][1].get<int64_t>();
      }
      if (static_cast<int64_t>(weights.size()) != units * fan_in) {
        r.Fail(p + ".weights", "has " + std::to_string(weights.size()) + " values, expected " +
                                   std::to_string(units) + " units x " + std::to_string(fan_in) +
                                   " inputs");
      }
      const json& act = l.contains("activation") ? l["activation"] : json("none");
      if (act != "relu" && act != "none")
        r.Fail(p + ".activation", "expected \"relu\" or \"none\"");
      json out_code = r.Code(r.Get(l, "output", p), p + ".output", 32);
      const int64_t f_out = out_code["fraction_bits"].get<int64_t>();
      // The multiplier 2^(f_out - f_in - f_w) must be one integer_ops.h holds: m = 2^30 with a
      // shift in 0..62.
      const int64_t shift = fraction + wfrac - f_out;
      if (shift < -30 || shift > 32) {
        r.Fail(p + ".output.fraction_bits",
               "gives a shift of " + std::to_string(shift) +
                   " bits (input + weight - output fraction bits); expected -30..32");
      }
      q["activation"] = act;
      q["weight_bits"] = wbits;
      q["granularity"] = "per-tensor";
      q["weight_scales"] = json::array({std::ldexp(1.0, static_cast<int>(-wfrac))});
      q["weights_q"] = weights;
      q["bias_q"] = bias;
      config["layers"][name] = {{"bits", wbits}};
      code = out_code;
      fraction = f_out;
      last_linear = static_cast<int>(i);
    } else if (type == "max_pool" || type == "avg_pool") {
      r.RefuseUnknown(l, {"name", "type", "kernel", "stride", "pads"}, p);
      out_shape = WindowShape(l, r, p, shape, shape[0].get<int64_t>(), q);
    } else if (type == "flatten") {
      r.RefuseUnknown(l, {"name", "type"}, p);
      out_shape = json::array({ShapeSize(shape), 1, 1});
    } else {
      r.Fail(p + ".type",
             "expected \"dense\", \"conv2d\", \"max_pool\", \"avg_pool\" or \"flatten\"");
    }
    json out_code_json = code;
    out_code_json.erase("fraction_bits");
    q["output"] = out_code_json;
    q["output_shape"] = out_shape;
    qlayers.push_back(std::move(q));
    shape = out_shape;
  }
  if (last_linear < 0) r.Fail(path + ".layers", "expected at least one dense or conv2d layer");
  // The last linear layer's code is the logits' width: 32 bits means int32 logits.
  const json& logits = qlayers[static_cast<size_t>(last_linear)]["output"];
  if (logits["bits"].get<int64_t>() >= 32) {
    config["logits"] = "int32";
  } else {
    if (!logits["signed"].get<bool>()) {
      r.Fail(path + ".layers[" + std::to_string(last_linear) + "].output.signed",
             "the logits' code is signed (true)");
    }
    config["logits"] = {{"bits", logits["bits"]}};
  }
  out["config"] = config;
  out["float_activations"] = false;
  out["input"] = input_code;
  out["rounding"] = rounding;
  out["layers"] = qlayers;
  return out;
}

}  // namespace qrepair
