// Exports a quantized network as a dependency-free C99 header for microcontrollers: the integer
// weights, biases and requantization constants, and an integer-only predict function that
// reproduces the reference integer pass (forward.h) bit for bit.
#pragma once

#include <string>

#include "qrepair/model/quantized_network.h"

namespace qrepair {

// The header's text. Every name it defines starts with `prefix` (a C identifier, e.g.
// "qrepair": qrepair_predict, QREPAIR_INPUT_SIZE). It provides
//   int  <prefix>_predict(const int32_t* input_codes, int32_t* logits_out);  top-1, ties: lowest
//   void <prefix>_quantize_input(const float* input, int32_t* input_codes);   float, optional
// Throws Error(kBadInput) for weights-only networks (float activations have no integer form),
// layers without integer semantics, biases outside int32, and requantized values that could
// leave int64; Error(kUsage) for a prefix that is not a C identifier.
std::string ExportCHeader(const QuantizedNetwork& network, const std::string& prefix);

// Throws Error(kUsage) unless `prefix` is a C identifier (checked by ExportCHeader too; callers
// check it before long work such as a repair).
void CheckCHeaderPrefix(const std::string& prefix);

}  // namespace qrepair
