// LoadFloatNetwork: picks the reader by file extension, or by the first bytes when the extension
// names no known format.
#include "qrepair/io/model_loader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "qrepair/error.h"
#include "qrepair/io/json_io.h"

namespace qrepair {

namespace {

enum class Format { kOnnx, kNnet, kJson };

// JSON opens with '{'; NNet with its "//" header or, without one, the first number; anything
// else is given to the ONNX reader, whose protobuf parser reports what is wrong.
Format Sniff(std::ifstream& in) {
  char head[64] = {};
  in.read(head, sizeof head);
  const std::streamsize n = in.gcount();
  std::streamsize i = 0;
  while (i < n && std::isspace(static_cast<unsigned char>(head[i]))) ++i;
  if (i < n && head[i] == '{') return Format::kJson;
  if (i + 1 < n && head[i] == '/' && head[i + 1] == '/') return Format::kNnet;
  if (i < n && std::isdigit(static_cast<unsigned char>(head[i]))) return Format::kNnet;
  return Format::kOnnx;
}

}  // namespace

Network LoadFloatNetwork(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw BadInput(path, "", "is a directory, expected a model file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput(path, "", std::string("cannot open: ") + std::strerror(errno));

  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  Format format = ext == ".onnx"   ? Format::kOnnx
                  : ext == ".nnet" ? Format::kNnet
                  : ext == ".json" ? Format::kJson
                                   : Sniff(in);
  in.close();
  switch (format) {
    case Format::kOnnx:
      return LoadOnnx(path);
    case Format::kNnet:
      return LoadNnet(path);
    case Format::kJson:
      return LoadModelJson(path).float_network;
  }
  throw InternalError("unknown model format");
}

}  // namespace qrepair
