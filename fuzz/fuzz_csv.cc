// libFuzzer target: LoadDataset on a .csv file (the format is also sniffed from the content).
#include "fuzz_common.h"
#include "qrepair/io/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qrepair::fuzz::RunLoader(data, size, ".csv", [](const std::string& path) {
    qrepair::DataOptions options;
    options.data_path = path;
    options.input_scale = 1.0 / 255;
    qrepair::LoadDataset(options);
  });
}
