// MODEL argument handling shared by eval, rank, repair, sweep and batch.
#include "qrepair/io/model_source.h"

#include "qrepair/error.h"
#include "qrepair/io/atomic_file.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/io/onnx_qdq_import.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"
#include "qrepair/version.h"

namespace qrepair {

namespace {
bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

ModelFile LoadModelFile(const std::string& path) {
  if (EndsWith(path, ".json")) return LoadModelJson(path);
  if (IsQuantizedOnnx(path)) return LoadQuantizedOnnx(path);
  ModelFile model;
  model.float_network = LoadFloatNetwork(path);
  return model;
}

ModelFile OpenModel(const std::string& model_path, const std::string& config_path,
                    const Dataset& calibration, bool float_alone) {
  ModelFile model = LoadModelFile(model_path);
  if (model.float_network.input_shape.Size() != calibration.features) {
    throw BadInput(calibration.source, "",
                   "samples have " + std::to_string(calibration.features) + " features, but " +
                       model_path + " expects " +
                       std::to_string(model.float_network.input_shape.Size()) + " (" +
                       model.float_network.input_shape.ToString() + ")");
  }
  CheckLabelClasses(calibration, model.float_network.NumClasses());
  if (config_path.empty() && (model.has_quantized || float_alone)) return model;
  if (model.float_network.stand_in) {
    throw Error(ExitCode::kUsage, model_path +
                                      " is an integer network with no float network behind it: "
                                      "--config cannot quantize it again (drop --config)");
  }
  if (config_path.empty()) {
    throw Error(ExitCode::kUsage,
                model_path + " is a float network: --config is required to quantize it");
  }
  QuantConfig config = LoadQuantConfig(config_path);
  OrientForDecision(model.float_network, config.decision, config_path);
  model.quantized =
      QuantizeNetwork(model.float_network, config, InputBatch(calibration), model_path);
  model.has_quantized = true;
  model.provenance.source_model = model_path;
  model.provenance.source_sha256 = Sha256File(model_path);
  model.provenance.tool_version = kVersion;
  model.provenance.created_by = "quantize";
  return model;
}

}  // namespace qrepair
