// The IDX header (LeCun's MNIST format): magic 00 00 <type> <ndims>, then ndims big-endian
// uint32 sizes, then the elements in big-endian row-major order.
#include <cstdio>
#include <string>

#include "io/data_readers.h"
#include "qrepair/error.h"

namespace qrepair {
namespace data {
namespace {

std::string Hex(const unsigned char* bytes, int n) {
  std::string text;
  char byte[4];
  for (int i = 0; i < n; ++i) {
    std::snprintf(byte, sizeof byte, "%s%02x", i ? " " : "", bytes[i]);
    text += byte;
  }
  return text;
}

bool IdxType(unsigned char code, ElementType* type) {
  switch (code) {
    case 0x08:
      *type = ElementType::kU8;
      return true;
    case 0x09:
      *type = ElementType::kI8;
      return true;
    case 0x0B:
      *type = ElementType::kI16;
      return true;
    case 0x0C:
      *type = ElementType::kI32;
      return true;
    case 0x0D:
      *type = ElementType::kF32;
      return true;
    case 0x0E:
      *type = ElementType::kF64;
      return true;
    default:
      return false;
  }
}

}  // namespace

ArrayHeader ReadIdxHeader(ByteSource& source) {
  const std::string& path = source.path();
  unsigned char magic[4];
  source.ReadExact(magic, 4, "the 4-byte IDX magic");
  if (magic[0] != 0 || magic[1] != 0) {
    throw BadInput(path, "byte 0",
                   "expected the IDX magic 00 00 <type> <dimensions>, found " + Hex(magic, 4));
  }
  ArrayHeader header;
  header.format_name = "IDX";
  header.format.big_endian = true;
  if (!IdxType(magic[2], &header.format.type)) {
    throw BadInput(path, "byte 2",
                   "unknown IDX data type " + Hex(magic + 2, 1) +
                       "; expected 08 (uint8), 09 (int8), 0b (int16), 0c (int32), "
                       "0d (float32) or 0e (float64)");
  }
  const int dims = magic[3];
  if (dims == 0) {
    throw BadInput(path, "byte 3", "the IDX header has 0 dimensions; expected at least 1");
  }
  int64_t elements = 1;
  for (int i = 0; i < dims; ++i) {
    unsigned char raw[4];
    std::string place = "byte " + std::to_string(4 + 4 * i);
    source.ReadExact(raw, 4,
                     "a " + std::to_string(4 + 4 * dims) + "-byte IDX header with " +
                         std::to_string(dims) + " dimensions");
    uint32_t size = (uint32_t{raw[0]} << 24) | (uint32_t{raw[1]} << 16) | (uint32_t{raw[2]} << 8) |
                    uint32_t{raw[3]};
    if (size == 0) {
      throw BadInput(path, place, "dimension " + std::to_string(i) + " is 0; expected >= 1");
    }
    header.shape.push_back(size);
    if (elements > kMaxElements / size) {
      throw BadInput(path, place,
                     "the header claims more than " + std::to_string(kMaxElements) +
                         " elements (dimensions so far: " + ShapeText(header.shape) +
                         "); at most " + std::to_string(kMaxElements) + " are supported");
    }
    elements *= size;
  }
  return header;
}

}  // namespace data
}  // namespace qrepair
