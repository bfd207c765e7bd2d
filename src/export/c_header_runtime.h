// The C99 helper functions every exported header carries: the integer semantics of
// include/qrepair/quant/integer_ops.h and the layer loops of src/quant/integer_forward.cc,
// rewritten in C.
#pragma once

#include <string>
#include <vector>

#include "qrepair/quant/integer_ops.h"

namespace qrepair {

// The helpers' C source with every name prefixed by `prefix` (a C identifier). `weight_types`
// lists the C weight types the dense and convolution helpers are emitted for ("int8_t", ...);
// `mode` is the network's rounding mode (its requantization, pooling and input coding).
std::string CHeaderRuntime(const std::string& prefix, const std::vector<std::string>& weight_types,
                           RoundingMode mode);

}  // namespace qrepair
