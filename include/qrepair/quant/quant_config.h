// The quantization config: bits, granularity and scale rule per layer, read from JSON.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "qrepair/model/network.h"
#include "qrepair/quant/integer_ops.h"

namespace qrepair {

enum class Granularity { kPerTensor, kPerChannel };
enum class ScaleRule {
  kMaxAbs,      // scale = max|w| / (2^(b-1)-1), activations max / (2^b-1) (unsigned)
  kPowerOfTwo,  // scale = 2^-n (Qm.n fixed point), the largest n that still covers the range
  kMse,         // weights: f * max-abs scale, f in [0.2, 1] chosen to minimize a squared error
                // (of the weights when rounding to nearest, of the layer's outputs in the
                // gptq inits); activations as kMaxAbs
};

// "max-abs", "power-of-two", "mse".
const char* ScaleRuleName(ScaleRule rule);
// The rule ScaleRuleName names; anything else throws Error(kBadInput) naming `source` and `path`.
ScaleRule ParseScaleRule(const std::string& name, const std::string& source,
                         const std::string& path);

struct LayerQuantSpec {
  int weight_bits = 8;  // 2..16, symmetric signed
  Granularity granularity = Granularity::kPerTensor;
  ScaleRule scale_rule = ScaleRule::kMaxAbs;
  // The config's JSON names a "scale" for these weights. When none does, `repair`'s init (and
  // sweep's, without --scale) searches the scales ("mse"); `quantize` and the round-to-nearest
  // baseline keep max-abs.
  bool scale_given = false;
};

struct QuantConfig {
  LayerQuantSpec defaults;
  std::map<std::string, LayerQuantSpec> layers;  // overrides by layer name
  int activation_bits = 8;                       // 2..16; 0 means float activations
  // "logits": "int32" (32, the default) or {"bits": 2..16}: the last linear layer requantizes
  // and saturates to signed codes of that width, like the hidden layers.
  int logit_bits = 32;
  bool activation_symmetric = true;  // false: codes with a zero point ("symmetric")
  // Asymmetric codes: signed (TFLite's int8, "signed": true, zero point in [-2^(b-1), 2^(b-1)))
  // or unsigned (ONNX Runtime's uint8, the default).
  bool activation_signed = false;
  Decision decision = Decision::kArgmax;  // "decision": "argmax" | "argmin"
  std::string source;                     // the file it came from, for messages (not saved)
  // "rounding": the runtime's rounding (integer_ops.h), a fact of the quantized network.
  RoundingMode rounding = RoundingMode::kHalfEven;
  bool FloatActivations() const { return activation_bits == 0; }
  LayerQuantSpec ForLayer(const std::string& name) const;
};

// Parses the config. `source` names the file in messages; unknown keys and out-of-range values
// are errors naming their JSON path.
QuantConfig ParseQuantConfig(const nlohmann::json& json, const std::string& source);
QuantConfig LoadQuantConfig(const std::string& path);
void to_json(nlohmann::json& json, const QuantConfig& config);

}  // namespace qrepair
