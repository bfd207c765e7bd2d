// libFuzzer target: LoadOnnx, then a float forward pass on a zero input of small networks; a
// model with quantization nodes goes to the int8 importer instead, then the integer pass.
#include "fuzz_common.h"
#include "model_fuzz.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/io/onnx_qdq_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qrepair::fuzz::RunLoader(data, size, ".onnx", [](const std::string& path) {
    if (qrepair::IsQuantizedOnnx(path)) {
      qrepair::fuzz::ExerciseQuantized(qrepair::LoadQuantizedOnnx(path).quantized);
    } else {
      qrepair::fuzz::ExerciseFloat(qrepair::LoadOnnx(path));
    }
  });
}
