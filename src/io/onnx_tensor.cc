// Decodes ONNX constant tensors: typed fields, little-endian raw_data and external data files
// inside the model's folder. Sizes are checked against the dims before anything is allocated.
#include "io/onnx_tensor.h"

#include <onnx/onnx_pb.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "qrepair/error.h"

namespace qrepair {
namespace onnx_import {

namespace fs = std::filesystem;

int64_t ConstTensor::Size() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t CheckedElementCount(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return -1;
    if (d == 0) return 0;
    if (n > kMaxTensorElements / d) return -1;
    n *= d;
  }
  return n;
}

std::string DimsToString(const std::vector<int64_t>& dims) {
  if (dims.empty()) return "scalar";
  std::string text;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) text += "x";
    text += dims[i] < 0 ? "?" : std::to_string(dims[i]);
  }
  return text;
}

std::string ListToString(const std::vector<int64_t>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    text += (i > 0 ? ", " : "") + std::to_string(values[i]);
  }
  return text + "]";
}

namespace {

const char* DataTypeName(int type) {
  switch (type) {
    case onnx::TensorProto::FLOAT:
      return "FLOAT";
    case onnx::TensorProto::UINT8:
      return "UINT8";
    case onnx::TensorProto::INT8:
      return "INT8";
    case onnx::TensorProto::UINT16:
      return "UINT16";
    case onnx::TensorProto::INT16:
      return "INT16";
    case onnx::TensorProto::INT32:
      return "INT32";
    case onnx::TensorProto::INT64:
      return "INT64";
    case onnx::TensorProto::STRING:
      return "STRING";
    case onnx::TensorProto::BOOL:
      return "BOOL";
    case onnx::TensorProto::FLOAT16:
      return "FLOAT16";
    case onnx::TensorProto::DOUBLE:
      return "DOUBLE";
    case onnx::TensorProto::BFLOAT16:
      return "BFLOAT16";
    default:
      return "an unknown type";
  }
}

uint64_t LittleEndian(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

int64_t ParseCount(const std::string& text, const std::string& path, const std::string& place,
                   const std::string& key) {
  int64_t v = -1;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || text.empty() || stop != end || v < 0) {
    throw BadInput(path, place,
                   "external data " + key + " '" + text + "' is not a non-negative integer");
  }
  return v;
}

// Bytes of an external tensor. The location must be a relative path that stays inside the
// model's folder, also after resolving symbolic links: a model must not read arbitrary files.
std::string ReadExternal(const onnx::TensorProto& tensor, const std::string& path,
                         const std::string& place, int64_t expected_bytes) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& entry : tensor.external_data()) {
    if (entry.key() == "location") location = entry.value();
    if (entry.key() == "offset") offset = ParseCount(entry.value(), path, place, "offset");
    if (entry.key() == "length") length = ParseCount(entry.value(), path, place, "length");
  }
  if (location.empty()) throw BadInput(path, place, "external data has no location");
  fs::path relative(location);
  if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory()) {
    throw BadInput(path, place,
                   "external data location '" + location +
                       "' is absolute; expected a path relative to the model's folder");
  }
  for (const fs::path& part : relative) {
    if (part == "..") {
      throw BadInput(path, place,
                     "external data location '" + location +
                         "' leaves the model's folder; expected a file inside it");
    }
  }
  fs::path folder = fs::path(path).parent_path();
  if (folder.empty()) folder = ".";
  std::error_code ec;
  fs::path real_folder = fs::canonical(folder, ec);
  fs::path real_file = ec ? fs::path() : fs::canonical(folder / relative, ec);
  if (ec || !fs::is_regular_file(real_file, ec)) {
    throw BadInput(path, place, "cannot open external data file '" + location + "'");
  }
  fs::path inside = real_file.lexically_relative(real_folder);
  if (inside.empty() || *inside.begin() == "..") {
    throw BadInput(path, place,
                   "external data location '" + location +
                       "' resolves outside the model's folder; expected a file inside it");
  }
  uint64_t file_size = fs::file_size(real_file, ec);
  if (ec) throw BadInput(path, place, "cannot read external data file '" + location + "'");
  if (length < 0) length = static_cast<int64_t>(file_size) - offset;
  if (length != expected_bytes) {
    throw BadInput(path, place,
                   "external data has " + std::to_string(length) + " bytes, expected " +
                       std::to_string(expected_bytes) + " from the tensor's dims");
  }
  if (static_cast<uint64_t>(offset) > file_size ||
      file_size - static_cast<uint64_t>(offset) < static_cast<uint64_t>(length)) {
    throw BadInput(path, place,
                   "external data file '" + location + "' has " + std::to_string(file_size) +
                       " bytes, expected at least " + std::to_string(offset + length));
  }
  std::ifstream in(real_file, std::ios::binary);
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  if (!in.read(bytes.data(), length)) {
    throw BadInput(path, place, "cannot read external data file '" + location + "'");
  }
  return bytes;
}

template <typename Field>
void CheckCount(const Field& field, int64_t n, const std::string& path, const std::string& place,
                const char* field_name) {
  if (static_cast<int64_t>(field.size()) != n) {
    throw BadInput(path, place,
                   std::string(field_name) + " has " + std::to_string(field.size()) +
                       " values, expected " + std::to_string(n) + " from the tensor's dims");
  }
}

}  // namespace

ConstTensor DecodeTensor(const onnx::TensorProto& tensor, const std::string& path,
                         const std::string& place) {
  ConstTensor out;
  out.dims.assign(tensor.dims().begin(), tensor.dims().end());
  int64_t n = CheckedElementCount(out.dims);
  if (n < 0) {
    throw BadInput(
        path, place,
        "dims " + DimsToString(out.dims) + " are negative or hold more than 2^28 elements");
  }
  if (tensor.has_segment()) throw BadInput(path, place, "segmented tensors are not supported");
  int type = tensor.data_type();
  int width = 0;
  switch (type) {
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
      width = 1;
      break;
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::INT32:
      width = 4;
      break;
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::INT64:
      width = 8;
      break;
    default:
      throw BadInput(path, place,
                     std::string("data type ") + DataTypeName(type) +
                         " is not supported; expected FLOAT, DOUBLE, INT8, UINT8, INT32 or INT64");
  }
  out.data_type = type;
  out.is_float = type == onnx::TensorProto::FLOAT || type == onnx::TensorProto::DOUBLE;
  std::vector<float>& floats = out.floats;
  std::vector<int64_t>& ints = out.ints;

  bool external = tensor.data_location() == onnx::TensorProto::EXTERNAL;
  if (external || tensor.has_raw_data()) {
    std::string external_bytes;
    if (external) external_bytes = ReadExternal(tensor, path, place, n * width);
    const std::string& raw = external ? external_bytes : tensor.raw_data();
    if (static_cast<int64_t>(raw.size()) != n * width) {
      throw BadInput(path, place,
                     "raw_data has " + std::to_string(raw.size()) + " bytes, expected " +
                         std::to_string(n * width) + " for dims " + DimsToString(out.dims));
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
    if (out.is_float) {
      floats.resize(n);
    } else {
      ints.resize(n);
    }
    for (int64_t i = 0; i < n; ++i) {
      uint64_t bits = LittleEndian(bytes + i * width, width);
      if (type == onnx::TensorProto::FLOAT) {
        uint32_t b32 = static_cast<uint32_t>(bits);
        std::memcpy(&floats[i], &b32, 4);
      } else if (type == onnx::TensorProto::DOUBLE) {
        double d;
        std::memcpy(&d, &bits, 8);
        floats[i] = static_cast<float>(d);
      } else if (type == onnx::TensorProto::INT8) {
        ints[i] =
            static_cast<int64_t>(bits & 0xff) - ((bits & 0x80) != 0 ? 256 : 0);  // two's complement
      } else if (type == onnx::TensorProto::UINT8) {
        ints[i] = static_cast<uint8_t>(bits);
      } else if (type == onnx::TensorProto::INT32) {
        ints[i] = static_cast<int32_t>(static_cast<uint32_t>(bits));
      } else {
        ints[i] = static_cast<int64_t>(bits);
      }
    }
    return out;
  }
  switch (type) {
    case onnx::TensorProto::FLOAT:
      CheckCount(tensor.float_data(), n, path, place, "float_data");
      floats.assign(tensor.float_data().begin(), tensor.float_data().end());
      break;
    case onnx::TensorProto::DOUBLE:
      CheckCount(tensor.double_data(), n, path, place, "double_data");
      for (double d : tensor.double_data()) floats.push_back(static_cast<float>(d));
      break;
    case onnx::TensorProto::INT32:
      CheckCount(tensor.int32_data(), n, path, place, "int32_data");
      ints.assign(tensor.int32_data().begin(), tensor.int32_data().end());
      break;
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:  // 8-bit values are stored in int32_data, one per entry
      CheckCount(tensor.int32_data(), n, path, place, "int32_data");
      for (int32_t v : tensor.int32_data()) {
        const int32_t lo = type == onnx::TensorProto::INT8 ? -128 : 0;
        const int32_t hi = type == onnx::TensorProto::INT8 ? 127 : 255;
        if (v < lo || v > hi) {
          throw BadInput(path, place,
                         "int32_data value " + std::to_string(v) + " is outside the " +
                             DataTypeName(type) + " range");
        }
        ints.push_back(v);
      }
      break;
    default:
      CheckCount(tensor.int64_data(), n, path, place, "int64_data");
      ints.assign(tensor.int64_data().begin(), tensor.int64_data().end());
      break;
  }
  return out;
}

}  // namespace onnx_import
}  // namespace qrepair
