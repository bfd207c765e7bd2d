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
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "io/onnx_graph.h"
#include "io/onnx_qdq_chain.h"
#include "io/onnx_qdq_params.h"
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

// torch.onnx (1.13) computes a bias DequantizeLinear's zero point as Cast(ConstantOfShape(shape))
// of constants: such nodes become constants themselves. False for any other node.
bool FoldComputedConstant(const onnx::NodeProto& node, const std::string& place,
                          const std::string& path, ConstantMap& constants) {
  const std::string& op = node.op_type();
  if ((op != "ConstantOfShape" && op != "Cast") || node.input_size() != 1 ||
      node.output_size() != 1 || constants.count(node.input(0)) == 0) {
    return false;
  }
  const ConstTensor& in = constants.at(node.input(0));
  ConstTensor out;
  if (op == "ConstantOfShape") {
    if (in.is_float || CheckedElementCount(in.ints) < 0) {
      throw BadInput(path, place, "input shape must be INT64 dims of at most 2^28 elements");
    }
    ConstTensor value;
    value.data_type = onnx::TensorProto::FLOAT;
    value.is_float = true;
    value.floats = {0.0f};
    for (const auto& attr : node.attribute()) {
      if (attr.name() == "value" && attr.has_t()) value = DecodeTensor(attr.t(), path, place);
    }
    if (value.Size() != 1) throw BadInput(path, place, "value must hold one element");
    out = value;
    out.dims = in.ints;
    const auto n = static_cast<size_t>(CheckedElementCount(in.ints));
    if (value.is_float) out.floats.assign(n, value.floats[0]);
    if (!value.is_float) out.ints.assign(n, value.ints[0]);
    constants[node.output(0)] = std::move(out);
    return true;
  }
  int64_t to = 0;
  for (const auto& attr : node.attribute()) {
    if (attr.name() == "to") to = attr.i();
  }
  out.dims = in.dims;
  out.data_type = static_cast<int>(to);
  if (to == onnx::TensorProto::FLOAT) {
    out.is_float = true;
    if (in.is_float) out.floats = in.floats;
    if (!in.is_float) out.floats.assign(in.ints.begin(), in.ints.end());
  } else if (!in.is_float && (to == onnx::TensorProto::INT8 || to == onnx::TensorProto::UINT8 ||
                              to == onnx::TensorProto::INT32 || to == onnx::TensorProto::INT64)) {
    const int64_t lo =
        to == onnx::TensorProto::INT8 ? -128 : (to == onnx::TensorProto::UINT8 ? 0 : INT32_MIN);
    const int64_t hi =
        to == onnx::TensorProto::INT8 ? 127 : (to == onnx::TensorProto::UINT8 ? 255 : INT32_MAX);
    for (int64_t v : in.ints) {
      if (to != onnx::TensorProto::INT64 && (v < lo || v > hi)) {
        throw BadInput(path, place,
                       "casts " + std::to_string(v) + " out of the target type's range");
      }
    }
    out.ints = in.ints;
  } else {
    throw BadInput(path, place,
                   "casts a constant to " + TypeName(static_cast<int>(to)) +
                       "; expected an integer constant cast to INT8, UINT8, INT32, INT64 or FLOAT");
  }
  constants[node.output(0)] = std::move(out);
  return true;
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
    if (onnx_import::FoldComputedConstant(node, onnx_import::NodePlace(graph, i), path,
                                          constants)) {
      folded[i] = true;
      continue;
    }
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
