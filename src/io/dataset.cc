// Loads a data set (IDX, NumPy .npy or CSV, each optionally gzip-compressed) into float rows.
// Size fields are checked against the bytes actually present before anything is allocated, and
// only the rows inside --range are converted to floats.
#include "qrepair/io/dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>

#include "io/data_readers.h"
#include "qrepair/error.h"

namespace qrepair {
namespace data {

// ---- ByteSource ----------------------------------------------------------------------------

ByteSource::ByteSource(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw BadInput(path, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw BadInput(path, "", "cannot open: is a directory");
  }
  file_size_ = static_cast<uint64_t>(st.st_size);
  unsigned char magic[2] = {0, 0};
  bool gzip = ::pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (gzip) {
    gzFile gz = gzdopen(fd, "rb");
    if (gz == nullptr) {
      ::close(fd);
      throw BadInput(path, "", "cannot open: out of memory for the gzip reader");
    }
    gzbuffer(gz, 1 << 18);
    gz_ = gz;
  } else {
    file_ = ::fdopen(fd, "rb");
    if (file_ == nullptr) {
      ::close(fd);
      throw BadInput(path, "", std::string("cannot open: ") + std::strerror(errno));
    }
  }
}

ByteSource::~ByteSource() {
  if (gz_ != nullptr) gzclose(static_cast<gzFile>(gz_));
  if (file_ != nullptr) std::fclose(file_);
}

int64_t ByteSource::KnownRemaining() const {
  if (gzipped()) return -1;
  return position_ >= file_size_ ? 0 : static_cast<int64_t>(file_size_ - position_);
}

size_t ByteSource::Read(void* dst, size_t n) {
  auto* out = static_cast<unsigned char*>(dst);
  size_t got = 0;
  if (file_ != nullptr) {
    got = std::fread(out, 1, n, file_);
    if (got < n && std::ferror(file_)) {
      throw BadInput(path_, "byte " + std::to_string(position_ + got),
                     std::string("read error: ") + std::strerror(errno));
    }
  } else {
    auto gz = static_cast<gzFile>(gz_);
    while (got < n) {
      unsigned step = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
      int r = gzread(gz, out + got, step);
      if (r > 0) got += static_cast<size_t>(r);
      if (r == static_cast<int>(step)) continue;
      int code = Z_OK;
      std::string message = gzerror(gz, &code);
      if (code != Z_OK) {
        // zlib prefixes its message with the name it was opened under ("<fd:3>: ").
        if (message.compare(0, 4, "<fd:") == 0 && message.find(": ") != std::string::npos) {
          message.erase(0, message.find(": ") + 2);
        }
        std::string what = code == Z_BUF_ERROR ? "truncated gzip stream (" : "corrupt gzip data (";
        throw BadInput(path_, "compressed byte " + std::to_string(gzoffset(gz)),
                       what + message + ")");
      }
      break;  // clean end of the data
    }
  }
  position_ += got;
  return got;
}

void ByteSource::ReadExact(void* dst, size_t n, const std::string& what) {
  uint64_t start = position_;
  size_t got = Read(dst, n);
  if (got < n) {
    throw BadInput(path_, "byte " + std::to_string(start),
                   "truncated: expected " + what + ", file ends after " +
                       std::to_string(start + got) + " bytes");
  }
}

uint64_t ByteSource::Skip(uint64_t n) {
  if (file_ != nullptr) {
    uint64_t step = std::min<uint64_t>(n, static_cast<uint64_t>(KnownRemaining()));
    if (step > 0 && ::fseeko(file_, static_cast<off_t>(step), SEEK_CUR) != 0) {
      throw BadInput(path_, "byte " + std::to_string(position_),
                     std::string("seek failed: ") + std::strerror(errno));
    }
    position_ += step;
    return step;
  }
  std::vector<unsigned char> scratch(static_cast<size_t>(std::min<uint64_t>(n, 1 << 18)));
  uint64_t done = 0;
  while (done < n) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(n - done, scratch.size()));
    size_t got = Read(scratch.data(), want);
    done += got;
    if (got < want) break;
  }
  return done;
}

void ByteSource::ExpectEnd(const std::string& what) {
  uint64_t end = position_;
  const uint64_t kCountLimit = uint64_t{1} << 26;  // a gzip bomb is not inflated to the end
  uint64_t extra = file_ != nullptr ? static_cast<uint64_t>(KnownRemaining()) : Skip(kCountLimit);
  if (extra > 0) {
    throw BadInput(path_, "byte " + std::to_string(end),
                   "trailing data: " + what + ", but " +
                       (extra == kCountLimit && gzipped() ? "at least " : "") +
                       std::to_string(extra) + " more byte" +
                       (extra == 1 ? " follows" : "s follow"));
  }
}

std::string ByteSource::ReadAll(uint64_t limit) {
  std::string text;
  // One spare byte, so a plain file is read in one go and the end is seen without growing.
  const int64_t known = KnownRemaining();
  text.resize(known >= 0 && static_cast<uint64_t>(known) <= limit ? static_cast<size_t>(known) + 1
                                                                  : size_t{1} << 20);
  size_t used = 0;
  for (;;) {
    if (used == text.size()) {
      if (used > limit) {
        throw BadInput(path_, "", "file is larger than " + std::to_string(limit) + " bytes");
      }
      text.resize(text.size() * 2);
    }
    size_t got = Read(&text[used], text.size() - used);
    used += got;
    if (got == 0) break;
  }
  text.resize(used);
  return text;
}

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

namespace {

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

enum class Format { kIdx, kNpy, kCsv };

std::string LowerExtension(std::string path) {
  std::transform(path.begin(), path.end(), path.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) path.resize(path.size() - 3);
  size_t slash = path.find_last_of('/');
  return path.substr(slash == std::string::npos ? 0 : slash + 1);
}

// The format from the first bytes, falling back to the extension to pick whose error to report.
Format DetectFormat(const std::string& path) {
  unsigned char head[8] = {};
  size_t n = 0;
  {
    ByteSource probe(path);
    n = probe.Read(head, sizeof head);
  }
  if (n == 0) throw BadInput(path, "", "empty file; expected IDX, NumPy (.npy) or CSV data");
  if (n >= 6 && std::memcmp(head, "\x93NUMPY", 6) == 0) return Format::kNpy;
  if (n >= 2 && head[0] == 0 && head[1] == 0) return Format::kIdx;
  std::string name = LowerExtension(path);
  auto ends_with = [&](const char* s) {
    size_t k = std::strlen(s);
    return name.size() >= k && name.compare(name.size() - k, k, s) == 0;
  };
  if (ends_with(".npy")) return Format::kNpy;
  if (ends_with(".idx") || name.find("-ubyte") != std::string::npos ||
      name.find("idx1") != std::string::npos || name.find("idx3") != std::string::npos) {
    return Format::kIdx;
  }
  bool text = true;
  for (size_t i = 0; i < n; ++i) {
    if (head[i] < 0x09 || (head[i] > 0x0d && head[i] < 0x20) || head[i] == 0x7f) text = false;
  }
  if (!text && !ends_with(".csv") && !ends_with(".txt")) {
    throw BadInput(path, "byte 0", "unrecognised format; expected IDX, NumPy (.npy) or CSV data");
  }
  return Format::kCsv;
}

ArrayHeader ReadHeader(ByteSource& source, Format format) {
  return format == Format::kIdx ? ReadIdxHeader(source) : ReadNpyHeader(source);
}

std::vector<int> ReadLabels(const std::string& path) {
  Format format = DetectFormat(path);
  ByteSource source(path);
  if (format != Format::kCsv) return ReadArrayLabels(source, ReadHeader(source, format));
  CsvOptions options;
  options.label_column = true;
  CsvTable table = ReadCsv(source, options);
  if (table.features != 0) {
    throw BadInput(path, "",
                   "found " + std::to_string(table.features + 1) +
                       " columns; expected one integer label per line");
  }
  return std::move(table.labels);
}

std::string RangeText(const RowRange& range) {
  return std::to_string(range.begin) + ":" + (range.end < 0 ? "" : std::to_string(range.end));
}

}  // namespace
}  // namespace data

RowRange ParseRowRange(const std::string& text, const std::string& flag) {
  auto fail = [&]() {
    return Error(ExitCode::kUsage, flag + ": expected A:B with 0 <= A < B, got '" + text + "'");
  };
  size_t colon = text.find(':');
  if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos) throw fail();
  auto parse = [&](const std::string& part, int64_t fallback) {
    if (part.empty()) return fallback;
    if (part.size() > 18 || part.find_first_not_of("0123456789") != std::string::npos) throw fail();
    return static_cast<int64_t>(std::stoll(part));
  };
  RowRange range;
  range.begin = parse(text.substr(0, colon), 0);
  range.end = parse(text.substr(colon + 1), -1);
  if (range.end >= 0 && range.begin >= range.end) throw fail();
  return range;
}

Dataset Dataset::Slice(int64_t begin, int64_t end) const {
  if (begin < 0 || end > rows || begin > end) {
    throw InternalError("Dataset::Slice(" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") of " + std::to_string(rows) + " rows");
  }
  Dataset out;
  out.source = source;
  out.rows = end - begin;
  out.features = features;
  out.first_row = first_row + begin;
  out.values.assign(values.begin() + begin * features, values.begin() + end * features);
  if (HasLabels()) out.labels.assign(labels.begin() + begin, labels.begin() + end);
  return out;
}

Dataset LoadDataset(const DataOptions& options) {
  using namespace data;
  RowRange range = options.range.value_or(RowRange{});
  if (range.begin < 0 || (range.end >= 0 && range.end <= range.begin)) {
    throw Error(ExitCode::kUsage,
                "--range: expected A:B with 0 <= A < B, got '" + RangeText(range) + "'");
  }
  const std::string& path = options.data_path;
  Format format = DetectFormat(path);
  ByteSource source(path);
  Dataset out;
  out.source = path;

  // Row count first (from the header, or a full CSV pass), then the range, then the values.
  auto resolve = [&](int64_t rows) {
    int64_t end = range.end < 0 ? rows : range.end;
    if (range.begin >= rows || end > rows) {
      throw BadInput(path, "",
                     "--range " + RangeText(range) + " goes beyond the " + std::to_string(rows) +
                         " rows in the file");
    }
    out.first_row = range.begin;
    out.rows = end - range.begin;
    return end;
  };
  int64_t file_rows = 0;
  std::vector<int> file_labels;  // labels of the kept rows, from the CSV label column
  if (format == Format::kCsv) {
    CsvOptions csv;
    csv.label_column = options.labels_path.empty();
    csv.keep = range;
    csv.scale = options.input_scale;
    csv.offset = options.input_offset;
    CsvTable table = ReadCsv(source, csv);
    if (table.features == 0) {
      throw BadInput(path, "", "only one column; expected features, then the label column");
    }
    file_rows = table.rows;
    resolve(file_rows);
    out.features = table.features;
    out.values = std::move(table.values);
    file_labels = std::move(table.labels);
  } else {
    ArrayHeader header = ReadHeader(source, format);
    if (header.shape.size() < 2) {
      throw BadInput(path, "header",
                     "shape (" + ShapeText(header.shape) +
                         ") has one dimension, which is a labels file; expected samples x "
                         "features (2 or more dimensions)");
    }
    file_rows = header.shape[0];
    int64_t end = resolve(file_rows);
    out.features = 1;
    for (size_t i = 1; i < header.shape.size(); ++i) out.features *= header.shape[i];
    out.values =
        ReadArrayRows(source, header, range.begin, end, options.input_scale, options.input_offset);
  }

  if (!options.labels_path.empty()) {
    std::vector<int> all = ReadLabels(options.labels_path);
    if (static_cast<int64_t>(all.size()) != file_rows) {
      throw BadInput(options.labels_path, "",
                     std::to_string(all.size()) + " labels, but " + path + " has " +
                         std::to_string(file_rows) + " rows; expected one label per row");
    }
    file_labels.assign(all.begin() + out.first_row, all.begin() + out.first_row + out.rows);
  }
  out.labels = std::move(file_labels);
  return out;
}

}  // namespace qrepair
