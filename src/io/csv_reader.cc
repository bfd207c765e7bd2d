// CSV data: one sample per line, numbers separated by commas, an optional header line, and
// (unless a labels file is given) the label in the last column. Blank lines are ignored.
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>

#include "io/data_readers.h"
#include "qrepair/error.h"

namespace qrepair {
namespace data {
namespace {

constexpr uint64_t kMaxTextBytes = uint64_t{1} << 32;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool ParseNumber(std::string_view cell, double* value) {
  if (!cell.empty() && cell.front() == '+') cell.remove_prefix(1);
  if (cell.empty()) return false;
  auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), *value);
  return ec == std::errc() && end == cell.data() + cell.size();
}

// The cell as a person should see it in a message: short, non-printable bytes escaped.
std::string Shown(std::string_view cell) {
  std::string text;
  for (size_t i = 0; i < cell.size() && i < 40; ++i) {
    auto c = static_cast<unsigned char>(cell[i]);
    if (c >= 0x20 && c < 0x7f) {
      text += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      text += hex;
    }
  }
  if (cell.size() > 40) text += "...";
  return text;
}

std::string Place(int64_t line, size_t column) {
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// Splits `line` at commas into `cells`; false when a cell is not a number (`bad` is its index).
bool ParseLine(std::string_view line, std::vector<std::string_view>* cells,
               std::vector<double>* numbers, size_t* bad) {
  cells->clear();
  numbers->clear();
  for (;;) {
    size_t comma = line.find(',');
    cells->push_back(Trim(line.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    line.remove_prefix(comma + 1);
  }
  for (size_t i = 0; i < cells->size(); ++i) {
    double value = 0;
    if (!ParseNumber((*cells)[i], &value)) {
      *bad = i;
      return false;
    }
    numbers->push_back(value);
  }
  return true;
}

// A first line is a header when some cell holds text; "1,,3" is a broken row, not a header.
bool LooksLikeHeader(const std::vector<std::string_view>& cells) {
  double value = 0;
  for (std::string_view cell : cells) {
    if (!cell.empty() && !ParseNumber(cell, &value)) return true;
  }
  return false;
}

}  // namespace

CsvTable ReadCsv(ByteSource& source, const CsvOptions& options) {
  const std::string& path = source.path();
  const std::string text = source.ReadAll(kMaxTextBytes);
  const int64_t keep_end = options.keep.end < 0 ? INT64_MAX : options.keep.end;
  CsvTable table;
  std::vector<std::string_view> cells;
  std::vector<double> numbers;
  size_t columns = 0;
  int64_t first_line = 0;  // the line that fixed the column count
  bool first = true;
  int64_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t newline = text.find('\n', pos);
    if (newline == std::string::npos) newline = text.size();
    std::string_view line(text.data() + pos, newline - pos);
    pos = newline + 1;
    ++line_no;
    if (Trim(line).empty()) continue;
    size_t bad = 0;
    bool numeric = ParseLine(line, &cells, &numbers, &bad);
    if (first) {
      first = false;
      if (!numeric && LooksLikeHeader(cells)) continue;
    }
    if (!numeric) {
      throw BadInput(path, Place(line_no, bad + 1),
                     "expected a number, found '" + Shown(cells[bad]) + "'");
    }
    if (columns == 0) {
      columns = cells.size();
      first_line = line_no;
    } else if (cells.size() != columns) {
      throw BadInput(path, "line " + std::to_string(line_no),
                     "found " + std::to_string(cells.size()) + " columns; expected " +
                         std::to_string(columns) + " as on line " + std::to_string(first_line));
    }
    const size_t features = options.label_column ? columns - 1 : columns;
    if (static_cast<int64_t>(columns) * (table.rows + 1) > kMaxElements) {
      throw BadInput(
          path, "line " + std::to_string(line_no),
          "more than " + std::to_string(kMaxElements) + " values; at most that many are supported");
    }
    for (size_t c = 0; c < features; ++c) {
      if (!std::isfinite(numbers[c])) {
        throw BadInput(path, Place(line_no, c + 1),
                       "expected a finite number, found '" + Shown(cells[c]) + "'");
      }
    }
    int label = 0;
    if (options.label_column) {
      label = CheckLabel(numbers[features], path, Place(line_no, columns));
    }
    const int64_t row = table.rows++;
    if (row < options.keep.begin || row >= keep_end) continue;
    for (size_t c = 0; c < features; ++c) {
      auto v = static_cast<float>(numbers[c] * options.scale + options.offset);
      if (!std::isfinite(v)) {
        throw BadInput(path, Place(line_no, c + 1),
                       "value '" + Shown(cells[c]) + "' is not finite after scaling");
      }
      table.values.push_back(v);
    }
    if (options.label_column) table.labels.push_back(label);
  }
  if (table.rows == 0) throw BadInput(path, "", "no data rows; expected numbers separated by ','");
  table.features = static_cast<int64_t>(options.label_column ? columns - 1 : columns);
  return table;
}

}  // namespace data
}  // namespace qrepair
