// libFuzzer target: LoadQuantConfig, then the config's JSON round trip.
#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "qrepair/quant/quant_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qrepair::fuzz::RunLoader(data, size, ".json", [](const std::string& path) {
    qrepair::QuantConfig config = qrepair::LoadQuantConfig(path);
    nlohmann::json written = config;
    qrepair::QuantConfig again = qrepair::ParseQuantConfig(written, path);
    if (nlohmann::json(again) != written) std::abort();  // what is written must read back
  });
}
