// libFuzzer target: LoadModelJson, then float and reference integer forward passes of small
// networks (a loaded quantized network must be safe to run: no overflow, no out-of-range index).
#include "fuzz_common.h"
#include "model_fuzz.h"
#include "qrepair/json_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qrepair::fuzz::RunLoader(data, size, ".json", [](const std::string& path) {
    qrepair::ModelFile model = qrepair::LoadModelJson(path);
    qrepair::fuzz::ExerciseFloat(model.float_network);
    if (model.has_quantized) qrepair::fuzz::ExerciseQuantized(model.quantized);
  });
}
