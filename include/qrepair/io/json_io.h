// qrepair's own JSON model format: float or quantized, versioned, lossless.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"

namespace qrepair {

inline constexpr int kJsonFormatVersion = 1;

// Where a quantized network came from; written into every quantized JSON.
struct Provenance {
  std::string source_model;   // path as given
  std::string source_sha256;  // of the source model file
  std::string tool_version;
  std::string created_by;  // "quantize", "repair", ...
};

// A model file's content. `quantized` is set for quantized JSON; `float_network` is always set:
// a quantized JSON embeds the float network it was made from, so eval can compare; an integer
// network with none behind it ("kind": "fixed-point", or a quantized object alone) gets a
// stand-in (Network::stand_in), which is never written back.
struct ModelFile {
  Network float_network;
  bool has_quantized = false;
  QuantizedNetwork quantized;
  Provenance provenance;
};

nlohmann::json NetworkToJson(const Network& network);
Network NetworkFromJson(const nlohmann::json& json, const std::string& source);

nlohmann::json ModelFileToJson(const ModelFile& model);
// Reads a qrepair JSON file (float or quantized). Throws Error(kBadInput) naming the JSON path.
ModelFile LoadModelJson(const std::string& path);
ModelFile ModelFileFromJson(const nlohmann::json& json, const std::string& source);

}  // namespace qrepair
