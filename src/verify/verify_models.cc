// Opening the networks of `verify` once each (verify_models.h).
#include "qrepair/verify/verify_models.h"

#include <utility>

#include "qrepair/error.h"
#include "qrepair/io/model_source.h"
#include "qrepair/io/onnx_qdq_import.h"

namespace qrepair {

VerifyModels::VerifyModels(VerifyModelSource source) : source_(std::move(source)) {
  if (!source_.config_path.empty() && !source_.calibration) {
    throw Error(ExitCode::kUsage,
                "--config needs --data: the calibration samples that set the activation scales");
  }
  if (source_.config_path.empty() && source_.calibration) {
    throw Error(ExitCode::kUsage,
                "--data is only used with --config (to quantize a float model); a quantized "
                "qrepair JSON needs neither");
  }
  if (source_.calibration) calibration_ = LoadDataset(*source_.calibration);
}

const ModelFile& VerifyModels::Open(const std::string& path) {
  auto it = cache_.find(path);
  if (it != cache_.end()) return it->second;
  ModelFile model;
  if (source_.config_path.empty()) {
    bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
    if (json || IsQuantizedOnnx(path)) model = LoadModelFile(path);
    if (!model.has_quantized) {
      throw Error(ExitCode::kUsage, path +
                                        " is a float network: give --config Q.json and --data "
                                        "CALIBRATION to quantize it (as eval does)");
    }
  } else {
    model = OpenModel(path, source_.config_path, calibration_);
  }
  return cache_.emplace(path, std::move(model)).first->second;
}

}  // namespace qrepair
