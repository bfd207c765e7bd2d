// Opens what the user passed as MODEL: a float network plus a config (quantized here by
// round-to-nearest, calibrated on the given data), or a quantized qrepair JSON.
#pragma once

#include <string>

#include "qrepair/io/dataset.h"
#include "qrepair/io/json_io.h"

namespace qrepair {

// A model file as it stands: a qrepair JSON (float or quantized), an int8 ONNX model (quantized,
// with no float network behind it: onnx_qdq_import.h), or a float network (ONNX, NNet).
ModelFile LoadModelFile(const std::string& path);

// `config_path` may be empty when `model_path` is a quantized qrepair JSON or an int8 ONNX model
// (then the calibration data is unused), or with `float_alone` (then a float model comes back with
// has_quantized false). Throws Error(kUsage) when a float model comes without a config otherwise,
// and Error(kBadInput) when the calibration rows' features or labels do not fit the network.
ModelFile OpenModel(const std::string& model_path, const std::string& config_path,
                    const Dataset& calibration, bool float_alone = false);

}  // namespace qrepair
