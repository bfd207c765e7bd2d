// Reading a whole JSON file: the one place that turns a parse failure into a bad-input error
// naming the file and the byte offset (configs, model files, manifests, batch summaries).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace qrepair {

// The parsed contents of `path`. Throws BadInput(path, "byte N", ...) for invalid JSON and
// BadInput(path, "", cannot_open) when the file cannot be opened. `bytes`, when given, receives
// the file's bytes (for a checksum of exactly what was parsed).
nlohmann::json ReadJsonFile(const std::string& path, const std::string& cannot_open,
                            std::string* bytes = nullptr);

}  // namespace qrepair
