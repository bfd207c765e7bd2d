// ReadJsonFile: parse errors as bad input with the byte offset.
#include "io/json_file.h"

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "qrepair/error.h"

namespace qrepair {

nlohmann::json ReadJsonFile(const std::string& path, const std::string& cannot_open,
                            std::string* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput(path, "", cannot_open);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    nlohmann::json root = nlohmann::json::parse(text);
    if (bytes != nullptr) *bytes = std::move(text);
    return root;
  } catch (const nlohmann::json::parse_error& e) {
    throw BadInput(path, "byte " + std::to_string(e.byte),
                   std::string("invalid JSON: ") + e.what());
  } catch (const nlohmann::json::exception& e) {  // number overflow (1e999) is out_of_range
    throw BadInput(path, "", std::string("invalid JSON: ") + e.what());
  }
}

}  // namespace qrepair
