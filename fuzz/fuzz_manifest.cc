// libFuzzer target: LoadBatchManifest (paths in it are only resolved, never opened).
#include "fuzz_common.h"
#include "qrepair/batch/batch_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qrepair::fuzz::RunLoader(
      data, size, ".json", [](const std::string& path) { qrepair::LoadBatchManifest(path); });
}
