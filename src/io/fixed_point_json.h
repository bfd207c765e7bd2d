// The hand-written fixed-point form of a qrepair model ("kind": "fixed-point", README "Fixed-point
// models"): integer weights and biases, power-of-two scales given as fraction bits, clamps given
// as code widths, as a fixed-point hardware design or the quantized-verification literature
// states a network. It has no float network behind it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace qrepair {

// Translates `fixed_point` (the file's "fixed_point" object) into the "quantized" object of the
// canonical format (with its "input_shape" and "name"), which the model reader then checks and
// loads as it loads any quantized network. Every fixed-point fact maps exactly: a scale 2^-f, a
// requantization multiplier 2^(f_in + f_w - f_out). Throws Error(kBadInput) naming `source` and
// the path under "$.fixed_point".
nlohmann::json FixedPointToQuantizedJson(const nlohmann::json& fixed_point,
                                         const std::string& source);

}  // namespace qrepair
