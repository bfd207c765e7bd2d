// Outputs are written to a temporary file in the target folder and renamed into place, so a
// reader (or a crash) sees either the old file or the complete new one.
#pragma once

#include <string>
#include <vector>

namespace qrepair {

// Writes `content` to `path` atomically (temp file in the same folder, fsync, rename).
// Throws Error(kIoError) naming the path.
void WriteFileAtomic(const std::string& path, const std::string& content);

// Throws Error(kUsage) when `output` names the same file as one of `inputs` (unless `force`).
void RefuseOverwritingInputs(const std::string& output, const std::vector<std::string>& inputs,
                             bool force);

// sha256 of a file's bytes, hex. Throws Error(kBadInput) when unreadable.
std::string Sha256File(const std::string& path);
std::string Sha256(const std::string& bytes);

}  // namespace qrepair
