// Opens what the user passed as MODEL: a float network plus a config (quantized here by
// round-to-nearest, calibrated on the given data), or a quantized qrepair JSON.
#pragma once

#include <string>

#include "qrepair/io/dataset.h"
#include "qrepair/io/json_io.h"

namespace qrepair {

// `config_path` may be empty only when `model_path` is a quantized qrepair JSON (then the
// calibration data is unused). Throws Error(kUsage) when a float model comes without a config.
ModelFile OpenModel(const std::string& model_path, const std::string& config_path,
                    const Dataset& calibration);

}  // namespace qrepair
