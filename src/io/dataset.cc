// Loads a data set (IDX, NumPy .npy or CSV, each optionally gzip-compressed) into float rows.
// Size fields are checked against the bytes actually present before anything is allocated, and
// only the rows inside --range are converted to floats.
#include "qrepair/io/dataset.h"

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

namespace {

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
  out.labels_source = labels_source;
  out.sample_shape = sample_shape;
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
    out.sample_shape.assign(header.shape.begin() + 1, header.shape.end());
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
  if (out.HasLabels()) out.labels_source = options.labels_path.empty() ? path : options.labels_path;
  return out;
}

void CheckLabelClasses(const Dataset& data, int classes) {
  for (size_t i = 0; i < data.labels.size(); ++i) {
    const int label = data.labels[i];
    if (label >= 0 && label < classes) continue;
    throw BadInput(
        data.labels_source, "row " + std::to_string(data.first_row + static_cast<int64_t>(i)),
        "label " + std::to_string(label) + " is not a class of the network: expected 0.." +
            std::to_string(classes - 1) + " (it has " + std::to_string(classes) + " outputs)");
  }
}

}  // namespace qrepair
