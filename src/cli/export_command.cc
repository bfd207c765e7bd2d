// `qrepair export`: a quantized qrepair JSON (or int8 ONNX model) as ONNX (QDQ) and/or a C99
// header; also the same outputs (and the per-class SVG) for `qrepair repair`.
#include <memory>

#include "commands.h"
#include "qrepair/export/c_header_export.h"
#include "qrepair/export/onnx_export.h"
#include "qrepair/io/atomic_file.h"
#include "qrepair/io/json_io.h"
#include "qrepair/io/model_source.h"
#include "qrepair/repair/repair_job.h"
#include "qrepair/report/report_plots.h"

namespace qrepair::cli {

namespace {

struct ExportFlags {
  std::string model;
  ExportOutputs outputs;
  bool force = false;
};

// Everything is rendered (and so validated) before the first file is written.
std::vector<ExtraOutput> Render(const ModelFile& model, const ExportOutputs& o) {
  std::vector<ExtraOutput> files;
  if (!o.onnx.empty()) {
    files.push_back(
        {o.onnx, ExportOnnxQdq(model.quantized, model.float_network), "ONNX QDQ model, opset 13"});
  }
  if (!o.c_header.empty()) {
    files.push_back({o.c_header, ExportCHeader(model.quantized, o.prefix),
                     "C99 header, " + o.prefix + "_predict()"});
  }
  return files;
}

void RunExport(const ExportFlags& f) {
  if (f.outputs.onnx.empty() && f.outputs.c_header.empty()) {
    throw Error(ExitCode::kUsage, "export: nothing to write (give --onnx and/or --c-header)");
  }
  CheckExportOutputs(f.outputs, {f.model}, f.force);
  ModelFile model = LoadModelFile(f.model);
  if (!model.has_quantized) {
    throw BadInput(
        f.model, "",
        "a float network: quantize it first (qrepair quantize MODEL --config Q -o OUT.json)");
  }
  std::vector<ExtraOutput> files;
  try {
    files = Render(model, f.outputs);
  } catch (const Error& e) {  // the exporters name the network; the user needs the file
    if (e.code() != ExitCode::kBadInput) throw;
    throw BadInput(f.model, "", std::string("cannot export: ") + e.what());
  }
  WriteExtraOutputs(files);
}

}  // namespace

void AddExportOptions(CLI::App* cmd, ExportOutputs& o, bool with_report_svg) {
  cmd->add_option("--onnx", o.onnx, "Write an ONNX model in QDQ form (opset 13)");
  cmd->add_option("--c-header", o.c_header,
                  "Write a dependency-free C99 header with integer-only predict()");
  cmd->add_option("--prefix", o.prefix, "Name prefix of everything in the C header")
      ->capture_default_str();
  if (with_report_svg)
    cmd->add_option("--report-svg", o.report_svg, "Per-class accuracy plot (SVG)");
}

void CheckExportOutputs(const ExportOutputs& o, const std::vector<std::string>& inputs,
                        bool force) {
  for (const std::string* out : {&o.onnx, &o.c_header, &o.report_svg})
    RefuseOverwritingInputs(*out, inputs, force);
  if (!o.c_header.empty()) CheckCHeaderPrefix(o.prefix);
}

std::vector<ExtraOutput> RenderRepairOutputs(const ExportOutputs& o, const ModelFile& repaired,
                                             const RepairReport& report) {
  std::vector<ExtraOutput> files = Render(repaired, o);
  if (!o.report_svg.empty()) {
    files.push_back({o.report_svg, PerClassAccuracySvg(report), "per-class accuracy plot"});
  }
  return files;
}

void SetUpExport(CLI::App& app) {
  auto f = std::make_shared<ExportFlags>();
  CLI::App* cmd =
      app.add_subcommand("export", "Export a quantized qrepair JSON as ONNX (QDQ) or a C header");
  cmd->add_option("model", f->model, "Quantized qrepair JSON (from quantize or repair)")
      ->required();
  AddExportOptions(cmd, f->outputs, false);
  cmd->add_flag("--force", f->force, "Allow outputs to overwrite input files");
  cmd->callback([f] { RunExport(*f); });
}

}  // namespace qrepair::cli
