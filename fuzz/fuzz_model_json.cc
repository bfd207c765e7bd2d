// libFuzzer target: LoadModelJson, then float and reference integer forward passes of small
// networks (a loaded quantized network must be safe to run: no overflow, no out-of-range index),
// and both exports of a loaded quantized network (`qrepair export`): each either succeeds or
// refuses with bad input; an internal error (e.g. libonnx's checker rejecting the model) or a
// crash is a finding.
#include "fuzz_common.h"
#include "model_fuzz.h"
#include "qrepair/export/c_header_export.h"
#include "qrepair/export/onnx_export.h"
#include "qrepair/io/json_io.h"

namespace {

void ExerciseExports(const qrepair::ModelFile& model) {
  const qrepair::QuantizedNetwork& q = model.quantized;
  if (!qrepair::fuzz::Small(q.input_shape, q.layers)) return;
  try {
    qrepair::ExportOnnxQdq(q, model.float_network);
  } catch (const qrepair::Error& e) {
    qrepair::fuzz::AbortUnlessBadInput(e, "ONNX export");
  }
  try {
    qrepair::ExportCHeader(q, "fz");
  } catch (const qrepair::Error& e) {
    qrepair::fuzz::AbortUnlessBadInput(e, "C header export");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qrepair::fuzz::RunLoader(data, size, ".json", [](const std::string& path) {
    qrepair::ModelFile model = qrepair::LoadModelJson(path);
    qrepair::fuzz::ExerciseFloat(model.float_network);
    if (!model.has_quantized) return;
    qrepair::fuzz::ExerciseQuantized(model.quantized);
    ExerciseExports(model);
  });
}
