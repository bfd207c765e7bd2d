// The body of an IDX or .npy array: element types, byte orders, and the rows or labels inside
// a range decoded to doubles while streaming, after the header's size has been checked.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "io/data_readers.h"
#include "qrepair/error.h"

namespace qrepair {
namespace data {

// ---- Elements --------------------------------------------------------------------------------

int ElementSize(ElementType type) {
  switch (type) {
    case ElementType::kU8:
    case ElementType::kI8:
      return 1;
    case ElementType::kU16:
    case ElementType::kI16:
      return 2;
    case ElementType::kU32:
    case ElementType::kI32:
    case ElementType::kF32:
      return 4;
    case ElementType::kI64:
    case ElementType::kF64:
      return 8;
  }
  return 1;
}

const char* ElementName(ElementType type) {
  switch (type) {
    case ElementType::kU8:
      return "uint8";
    case ElementType::kI8:
      return "int8";
    case ElementType::kU16:
      return "uint16";
    case ElementType::kI16:
      return "int16";
    case ElementType::kU32:
      return "uint32";
    case ElementType::kI32:
      return "int32";
    case ElementType::kI64:
      return "int64";
    case ElementType::kF32:
      return "float32";
    case ElementType::kF64:
      return "float64";
  }
  return "?";
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text;
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? " x " : "") + std::to_string(shape[i]);
  return text;
}

namespace {

template <int kBytes, bool kBig>
uint64_t LoadBits(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < kBytes; ++i) v = (v << 8) | p[kBig ? i : kBytes - 1 - i];
  return v;
}

template <ElementType kType, bool kBig>
void DecodeRun(const unsigned char* src, size_t count, double* dst) {
  constexpr int kSize = kType == ElementType::kU8 || kType == ElementType::kI8     ? 1
                        : kType == ElementType::kU16 || kType == ElementType::kI16 ? 2
                        : kType == ElementType::kI64 || kType == ElementType::kF64 ? 8
                                                                                   : 4;
  for (size_t i = 0; i < count; ++i, src += kSize) {
    uint64_t bits = LoadBits<kSize, kBig>(src);
    if constexpr (kType == ElementType::kF32) {
      auto narrow = static_cast<uint32_t>(bits);
      float f;
      std::memcpy(&f, &narrow, 4);
      dst[i] = f;
    } else if constexpr (kType == ElementType::kF64) {
      double d;
      std::memcpy(&d, &bits, 8);
      dst[i] = d;
    } else if constexpr (kType == ElementType::kI8) {
      dst[i] = static_cast<int8_t>(static_cast<uint8_t>(bits));
    } else if constexpr (kType == ElementType::kI16) {
      dst[i] = static_cast<int16_t>(static_cast<uint16_t>(bits));
    } else if constexpr (kType == ElementType::kI32) {
      dst[i] = static_cast<int32_t>(static_cast<uint32_t>(bits));
    } else if constexpr (kType == ElementType::kI64) {
      dst[i] = static_cast<double>(static_cast<int64_t>(bits));
    } else {
      dst[i] = static_cast<double>(bits);
    }
  }
}

template <bool kBig>
void DecodeEndian(const unsigned char* src, size_t count, ElementType type, double* dst) {
  switch (type) {
    case ElementType::kU8:
      return DecodeRun<ElementType::kU8, kBig>(src, count, dst);
    case ElementType::kI8:
      return DecodeRun<ElementType::kI8, kBig>(src, count, dst);
    case ElementType::kU16:
      return DecodeRun<ElementType::kU16, kBig>(src, count, dst);
    case ElementType::kI16:
      return DecodeRun<ElementType::kI16, kBig>(src, count, dst);
    case ElementType::kU32:
      return DecodeRun<ElementType::kU32, kBig>(src, count, dst);
    case ElementType::kI32:
      return DecodeRun<ElementType::kI32, kBig>(src, count, dst);
    case ElementType::kI64:
      return DecodeRun<ElementType::kI64, kBig>(src, count, dst);
    case ElementType::kF32:
      return DecodeRun<ElementType::kF32, kBig>(src, count, dst);
    case ElementType::kF64:
      return DecodeRun<ElementType::kF64, kBig>(src, count, dst);
  }
}

void Decode(const unsigned char* src, size_t count, ElementFormat format, double* dst) {
  if (format.big_endian) {
    DecodeEndian<true>(src, count, format.type, dst);
  } else {
    DecodeEndian<false>(src, count, format.type, dst);
  }
}

// Streams the array body in chunks of whole elements, calling `use(first_element, doubles, n)`.
// The caller has already skipped to the first wanted element.
template <typename Use>
void StreamElements(ByteSource& source, const ArrayHeader& header, int64_t first, int64_t count,
                    uint64_t data_start, uint64_t data_bytes, Use use) {
  const size_t size = static_cast<size_t>(ElementSize(header.format.type));
  const size_t chunk = std::max<size_t>(1, (size_t{1} << 18) / size);
  std::vector<unsigned char> raw(chunk * size);
  std::vector<double> decoded(chunk);
  for (int64_t done = 0; done < count;) {
    size_t n = static_cast<size_t>(std::min<int64_t>(count - done, static_cast<int64_t>(chunk)));
    size_t got = source.Read(raw.data(), n * size);
    if (got < n * size) {
      throw BadInput(source.path(), "",
                     "truncated: expected " + std::to_string(data_bytes) + " bytes of data (" +
                         ShapeText(header.shape) + " " + ElementName(header.format.type) +
                         "), file ends after " + std::to_string(source.position() - data_start));
    }
    Decode(raw.data(), n, header.format, decoded.data());
    use(first + done, decoded.data(), n);
    done += static_cast<int64_t>(n);
  }
}

// Checks, before any allocation, that a plain file holds exactly the promised data bytes.
void CheckBodySize(ByteSource& source, const ArrayHeader& header, uint64_t data_bytes) {
  int64_t remaining = source.KnownRemaining();
  if (remaining < 0) return;  // gzip: checked while streaming
  std::string what = std::to_string(data_bytes) + " bytes of data (" + ShapeText(header.shape) +
                     " " + ElementName(header.format.type) + ")";
  if (static_cast<uint64_t>(remaining) < data_bytes) {
    throw BadInput(source.path(), "",
                   "truncated: expected " + what + " after the " +
                       std::to_string(source.position()) + "-byte header, file ends after " +
                       std::to_string(remaining));
  }
  if (static_cast<uint64_t>(remaining) > data_bytes) {
    source.Skip(data_bytes);
    source.ExpectEnd("the " + header.format_name + " header promises " + what);
  }
}

void SkipOrTruncated(ByteSource& source, const ArrayHeader& header, uint64_t n, uint64_t data_start,
                     uint64_t data_bytes) {
  if (source.Skip(n) < n) {
    throw BadInput(source.path(), "",
                   "truncated: expected " + std::to_string(data_bytes) + " bytes of data (" +
                       ShapeText(header.shape) + " " + ElementName(header.format.type) +
                       "), file ends after " + std::to_string(source.position() - data_start));
  }
}

}  // namespace

int CheckLabel(double value, const std::string& file, const std::string& place) {
  if (!(value >= 0) || value != std::floor(value) || value > INT_MAX) {
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", value);
    throw BadInput(file, place, std::string("expected a label (an integer >= 0), found ") + text);
  }
  return static_cast<int>(value);
}

// Rows [begin, end) of a binary array as mapped floats; other rows are skipped, not converted.
std::vector<float> ReadArrayRows(ByteSource& source, const ArrayHeader& header, int64_t begin,
                                 int64_t end, double scale, double offset) {
  const int64_t rows = header.shape[0];
  int64_t features = 1;
  for (size_t i = 1; i < header.shape.size(); ++i) features *= header.shape[i];
  const uint64_t size = static_cast<uint64_t>(ElementSize(header.format.type));
  const uint64_t data_start = source.position();
  const uint64_t data_bytes = static_cast<uint64_t>(rows * features) * size;
  CheckBodySize(source, header, data_bytes);

  SkipOrTruncated(source, header, static_cast<uint64_t>(begin * features) * size, data_start,
                  data_bytes);
  std::vector<float> values;
  int64_t kept = (end - begin) * features;
  if (!source.gzipped()) {
    values.reserve(static_cast<size_t>(kept));
  } else {  // deflate expands at most ~1032:1, so this bound comes from the file, not the header
    uint64_t possible = source.file_size() * 1032 / size;
    values.reserve(static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(kept), possible)));
  }
  const auto fscale = scale, foffset = offset;
  StreamElements(source, header, begin * features, kept, data_start, data_bytes,
                 [&](int64_t first, const double* raw, size_t n) {
                   for (size_t i = 0; i < n; ++i) {
                     float v = static_cast<float>(raw[i] * fscale + foffset);
                     if (!std::isfinite(v)) {
                       int64_t element = first + static_cast<int64_t>(i);
                       char text[96];
                       std::snprintf(text, sizeof text, "feature %lld is %.9g",
                                     static_cast<long long>(element % features), raw[i]);
                       throw BadInput(
                           source.path(), "row " + std::to_string(element / features),
                           std::string(text) +
                               (std::isfinite(raw[i]) ? " (not finite after scaling)" : "") +
                               "; expected finite values");
                     }
                     values.push_back(v);
                   }
                 });
  SkipOrTruncated(source, header, static_cast<uint64_t>((rows - end) * features) * size, data_start,
                  data_bytes);
  source.ExpectEnd("the " + header.format_name + " header promises " + std::to_string(data_bytes) +
                   " bytes of data");
  return values;
}

std::vector<int> ReadArrayLabels(ByteSource& source, const ArrayHeader& header) {
  const auto& shape = header.shape;
  if (shape.size() != 1 && !(shape.size() == 2 && shape[1] == 1)) {
    throw BadInput(source.path(), "header",
                   "labels have shape (" + ShapeText(shape) + "); expected one dimension (N)");
  }
  const uint64_t data_start = source.position();
  const uint64_t data_bytes =
      static_cast<uint64_t>(shape[0]) * static_cast<uint64_t>(ElementSize(header.format.type));
  CheckBodySize(source, header, data_bytes);
  std::vector<int> labels;
  labels.reserve(
      static_cast<size_t>(source.gzipped() ? std::min<int64_t>(shape[0], 1 << 20) : shape[0]));
  StreamElements(
      source, header, 0, shape[0], data_start, data_bytes,
      [&](int64_t first, const double* raw, size_t n) {
        for (size_t i = 0; i < n; ++i) {
          labels.push_back(CheckLabel(raw[i], source.path(),
                                      "label " + std::to_string(first + static_cast<int64_t>(i))));
        }
      });
  source.ExpectEnd("the " + header.format_name + " header promises " + std::to_string(data_bytes) +
                   " bytes of labels");
  return labels;
}

}  // namespace data
}  // namespace qrepair
