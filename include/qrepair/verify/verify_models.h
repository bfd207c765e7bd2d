// The networks a verification run reads, each opened once: a quantized qrepair JSON as it is, or
// a float model (ONNX, NNet, float JSON) quantized by round to nearest with the config and the
// calibration data exactly as `eval` does it (OpenModel).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "qrepair/io/dataset.h"
#include "qrepair/io/json_io.h"

namespace qrepair {

struct VerifyModelSource {
  std::string config_path;                 // empty: every model must be a quantized JSON
  std::optional<DataOptions> calibration;  // required with config_path
};

class VerifyModels {
 public:
  // Loads the calibration data at once (its errors are the run's, not one instance's).
  // Throws Error(kUsage) when a config comes without data or data without a config.
  explicit VerifyModels(VerifyModelSource source);

  // The quantized network of `path`; throws Error(kUsage) for a float model without a config,
  // Error(kBadInput) for a malformed file.
  const ModelFile& Open(const std::string& path);

 private:
  VerifyModelSource source_;
  Dataset calibration_;
  std::map<std::string, ModelFile> cache_;
};

}  // namespace qrepair
