// `qrepair quantize`: the round-to-nearest quantized network as qrepair JSON.
#include <spdlog/spdlog.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "qrepair/io/atomic_file.h"
#include "qrepair/io/model_source.h"

namespace qrepair::cli {

namespace {
struct QuantizeFlags {
  std::string model;
  std::string config;
  DataFlags data;
  std::string output;
  bool force = false;
};
}  // namespace

void SetUpQuantize(CLI::App& app) {
  auto f = std::make_shared<QuantizeFlags>();
  CLI::App* cmd = app.add_subcommand("quantize", "Round-to-nearest quantization to qrepair JSON");
  cmd->add_option("model", f->model, "Float model (.onnx, .nnet, .json)")->required();
  cmd->add_option("--config", f->config, "Quantization config JSON")->required();
  AddDataFlags(cmd, f->data, true);
  cmd->add_option("-o,--output", f->output, "Output qrepair JSON")->required();
  cmd->add_flag("--force", f->force, "Allow -o to name an input file");
  cmd->callback([f] {
    RefuseOverwritingInputs(f->output, {f->model, f->config, f->data.data, f->data.labels},
                            f->force);
    Dataset calibration = LoadDataset(ToDataOptions(f->data, f->data.range));
    ModelFile model = OpenModel(f->model, f->config, calibration);
    WriteFileAtomic(f->output, ModelFileToJson(model).dump(1) + "\n");
    spdlog::info("wrote {}", f->output);
  });
}

}  // namespace qrepair::cli
