// Builders for the project's error type.
#include "qrepair/error.h"

namespace qrepair {

Error BadInput(const std::string& file, const std::string& place, const std::string& message) {
  std::string text = file;
  if (!place.empty()) text += ": " + place;
  text += ": " + message;
  return Error(ExitCode::kBadInput, text);
}

Error InternalError(const std::string& message) {
  return Error(ExitCode::kInternal, "internal error: " + message);
}

}  // namespace qrepair
