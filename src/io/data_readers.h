// Private pieces shared by the data-set readers: a byte stream over a plain or gzip file, the
// header of a binary array (IDX, NumPy) and the per-format parsers behind LoadDataset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "qrepair/io/dataset.h"

namespace qrepair {
namespace data {

// The most elements (rows x features) one file may hold; bounds every allocation.
constexpr int64_t kMaxElements = int64_t{1} << 31;

// Sequential reader over a file, inflating it when it starts with the gzip magic 1f 8b.
// Offsets are in the decompressed stream; errors name the file (and for corrupt gzip the
// compressed byte offset).
class ByteSource {
 public:
  explicit ByteSource(const std::string& path);  // BadInput "cannot open: ..." when missing
  ~ByteSource();
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;

  const std::string& path() const { return path_; }
  bool gzipped() const { return gz_ != nullptr; }
  // Size of the file on disk (compressed size for gzip).
  uint64_t file_size() const { return file_size_; }
  // Bytes consumed so far.
  uint64_t position() const { return position_; }
  // Decompressed bytes left, known only for plain files (-1 for gzip).
  int64_t KnownRemaining() const;

  // Reads up to n bytes; fewer only at the end of the data.
  size_t Read(void* dst, size_t n);
  // Reads exactly n bytes or throws "truncated ... `what`".
  void ReadExact(void* dst, size_t n, const std::string& what);
  // Skips up to n bytes; returns how many were there.
  uint64_t Skip(uint64_t n);
  // Throws when any data follows: `what` says how much the header promised.
  void ExpectEnd(const std::string& what);
  // The rest of the stream (for text formats), refusing more than `limit` bytes.
  std::string ReadAll(uint64_t limit);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  void* gz_ = nullptr;  // gzFile, kept opaque so zlib.h stays in dataset.cc
  uint64_t file_size_ = 0;
  uint64_t position_ = 0;
};

enum class ElementType { kU8, kI8, kU16, kI16, kU32, kI32, kI64, kF32, kF64 };

struct ElementFormat {
  ElementType type = ElementType::kU8;
  bool big_endian = false;
};

int ElementSize(ElementType type);
const char* ElementName(ElementType type);

// A binary array's header: the source is left positioned at the first data byte.
struct ArrayHeader {
  ElementFormat format;
  std::vector<int64_t> shape;  // every entry >= 1, product <= kMaxElements (checked)
  std::string format_name;     // "IDX" or "NumPy", for messages
};

// Per-format header parsers; they check magic, dimensions and the element cap.
ArrayHeader ReadIdxHeader(ByteSource& source);
ArrayHeader ReadNpyHeader(ByteSource& source);

// CSV: one sample per line, numbers separated by commas; an optional header line.
struct CsvOptions {
  bool label_column = true;  // the last column is a label (integer >= 0)
  RowRange keep;             // rows whose values are stored; others are only checked
  double scale = 1.0;
  double offset = 0.0;
};
struct CsvTable {
  int64_t rows = 0;           // data rows in the whole file
  int64_t features = 0;       // columns, minus the label column
  std::vector<float> values;  // kept rows only, mapped
  std::vector<int> labels;    // kept rows only, when label_column
};
CsvTable ReadCsv(ByteSource& source, const CsvOptions& options);

// Checks one label value; `place` names where it was read.
int CheckLabel(double value, const std::string& file, const std::string& place);

// Rows [begin, end) of a binary array (IDX, .npy) as floats raw * scale + offset; the other rows
// are skipped, not converted (binary_array.cc).
std::vector<float> ReadArrayRows(ByteSource& source, const ArrayHeader& header, int64_t begin,
                                 int64_t end, double scale, double offset);
// A one-dimensional array (N or N x 1) of labels, each checked by CheckLabel.
std::vector<int> ReadArrayLabels(ByteSource& source, const ArrayHeader& header);

// Shared formatting helpers for messages.
std::string ShapeText(const std::vector<int64_t>& shape);

}  // namespace data
}  // namespace qrepair
