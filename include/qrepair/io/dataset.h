// Data sets: samples as float rows (already mapped to the network's input) plus optional labels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qrepair {

// Rows [begin, end) of a file; parsed from "A:B" (either side may be empty: ":100", "5000:").
struct RowRange {
  int64_t begin = 0;
  int64_t end = -1;  // -1: to the end of the file
};

// Throws Error(kUsage) naming `flag` when `text` is not "A:B" with 0 <= A < B.
RowRange ParseRowRange(const std::string& text, const std::string& flag);

struct Dataset {
  std::string source;  // file the samples came from, for messages
  int64_t rows = 0;
  int64_t features = 0;
  int64_t first_row = 0;      // index in the file of row 0 (after --range)
  std::vector<float> values;  // rows x features, row-major
  std::vector<int> labels;    // empty, or one per row
  std::string labels_source;  // file the labels came from (the data file for a CSV label column)
  // The shape of one sample as the file gives it: IDX and .npy dimensions after the first
  // ([H, W], [C, H, W], or [F] for flat rows); empty for CSV, whose rows have no shape.
  std::vector<int64_t> sample_shape;

  bool HasLabels() const { return !labels.empty(); }
  const float* Row(int64_t i) const { return values.data() + i * features; }
  // Rows [begin, end) of this set as a new set (first_row adjusted).
  Dataset Slice(int64_t begin, int64_t end) const;
};

struct DataOptions {
  std::string data_path;     // .idx/.idx3-ubyte(.gz), .csv, .npy; format from the content/extension
  std::string labels_path;   // optional: IDX labels, .npy or .csv (one integer per line)
  double input_scale = 1.0;  // network input = raw * input_scale + input_offset
  double input_offset = 0.0;
  std::optional<RowRange> range;  // rows to keep; labels are cut to the same rows
  // CSV data: the last column is the label unless a labels file is given.
};

// Loads, validates (sizes, finite values, label counts) and maps the data. Throws
// Error(kBadInput) naming the file and the place (byte offset, line, column) on malformed input.
Dataset LoadDataset(const DataOptions& options);

// Refuses labels that are not classes of a network with `classes` outputs (a label must be in
// 0..classes-1): Error(kBadInput) naming the labels file, the row (as in the file) and the value.
void CheckLabelClasses(const Dataset& data, int classes);

}  // namespace qrepair
