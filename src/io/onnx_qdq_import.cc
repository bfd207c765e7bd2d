// The int8 ONNX importer (onnx_qdq_import.h): walks the QDQ chain and builds the integer network.
//
// The meaning it reads, with the ONNX spec's QuantizeLinear/DequantizeLinear (onnx_qdq_params.h):
// a linear node between DQ(x_q; s_x, zp_x), DQ(w_q; s_w, 0), DQ(b_q; s_x s_w, 0) and
// Q(.; s_y, zp_y) computes y_q = sat(round(s_w s_x / s_y * (sum w_q (x_q - zp_x) + b_q)) + zp_y),
// which is qrepair's linear layer (forward.h) with the multiplier M = s_w s_x / s_y held in 31
// bits (integer_ops.h). Max pooling, flattening and ReLU commute with DQ and keep the codes.
#include "qrepair/io/onnx_qdq_import.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "io/onnx_graph.h"
#include "io/onnx_qdq_chain.h"
#include "qrepair/io/atomic_file.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"
#include "qrepair/version.h"

namespace qrepair {

namespace onnx_import {

namespace {

bool IsQuantizationOp(const std::string& op) {
  return op == "QuantizeLinear" || op == "DequantizeLinear" || op.rfind("QLinear", 0) == 0 ||
         op == "MatMulInteger" || op == "ConvInteger" || op == "DynamicQuantizeLinear";
}

// The logit scale qrepair's export records (metadata "logit_scale"), or 0 when absent.
double LogitScaleMetadata(const onnx::ModelProto& model, const std::string& path) {
  for (const auto& prop : model.metadata_props()) {
    if (prop.key() != "logit_scale") continue;
    char* end = nullptr;
    const double v = std::strtod(prop.value().c_str(), &end);
    if (end == prop.value().c_str() || *end != '\0' || !(v > 0.0) || !std::isfinite(v)) {
      throw BadInput(path, "metadata 'logit_scale'",
                     "'" + prop.value() + "' is not a positive number");
    }
    return v;
  }
  return 0.0;
}

}  // namespace

}  // namespace onnx_import

bool IsQuantizedOnnx(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".json" || ext == ".nnet") return false;
  onnx::ModelProto model;
  try {
    model = onnx_import::ReadModel(path);
  } catch (const Error&) {
    return false;  // not ONNX (or unreadable): LoadFloatNetwork says why
  }
  for (const auto& node : model.graph().node()) {
    if (onnx_import::IsQuantizationOp(node.op_type())) return true;
  }
  return false;
}

ModelFile LoadQuantizedOnnx(const std::string& path) {
  const onnx::ModelProto model = onnx_import::ReadModel(path);
  const onnx::GraphProto& graph = model.graph();
  onnx_import::CheckOpset(model, path);
  onnx_import::ConstantMap constants = onnx_import::CollectConstants(graph, path);

  // Constants read through a DequantizeLinear (weights, biases) become constants themselves:
  // their integer codes as floats (exact below 2^24), so that the float loader's Gemm, MatMul
  // and Conv readers check shapes and attributes; the importer keeps the integers.
  onnx_import::QdqImporter importer(path, onnx_import::LogitScaleMetadata(model, path));
  std::vector<bool> folded(graph.node_size(), false);
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto& node = graph.node(i);
    if (node.op_type() != "DequantizeLinear" || node.input_size() < 1 ||
        constants.count(node.input(0)) == 0 || node.output_size() < 1) {
      continue;
    }
    importer.FoldConstant(
        node, node.name().empty() ? "DequantizeLinear_" + std::to_string(i) : node.name(),
        constants);
    folded[i] = true;
  }
  const std::string input = importer.Start(graph, constants);
  onnx_import::WalkChain(graph, constants, input, path, &folded,
                         [&](const onnx_import::OpNode& op) { importer.Visit(op); });

  ModelFile file;
  file.has_quantized = true;
  file.quantized = importer.Finish();
  file.quantized.name = std::filesystem::path(path).stem().string();
  file.float_network = StandInNetwork(file.quantized, path);
  file.provenance.source_model = path;
  file.provenance.source_sha256 = Sha256File(path);
  file.provenance.tool_version = kVersion;
  file.provenance.created_by = "import-onnx";
  spdlog::info("{}: int8 ONNX model, {} integer layers, input {} ({}-bit codes), logits {}", path,
               file.quantized.layers.size(), file.quantized.input_shape.ToString(),
               file.quantized.input.bits,
               file.quantized.config.logit_bits >= 32
                   ? std::string("int32")
                   : std::to_string(file.quantized.config.logit_bits) + "-bit codes");
  return file;
}

}  // namespace qrepair
