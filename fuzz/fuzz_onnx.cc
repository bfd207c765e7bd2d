// libFuzzer target: LoadOnnx, then a float forward pass on a zero input of small networks.
#include "fuzz_common.h"
#include "model_fuzz.h"
#include "qrepair/io/model_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qrepair::fuzz::RunLoader(data, size, ".onnx", [](const std::string& path) {
    qrepair::fuzz::ExerciseFloat(qrepair::LoadOnnx(path));
  });
}
