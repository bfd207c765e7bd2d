// Tests for LoadDataset: every format, ranges, labels, and malformed or hostile files.
#include "qrepair/io/dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "qrepair/error.h"

namespace qrepair {
namespace {

// ---- Writing test files ----------------------------------------------------------------------

std::string TempDir() {
  static std::string dir = [] {
    std::string base = ::testing::TempDir();
    if (base.empty() || base.back() != '/') base += '/';
    std::string pattern = base + "qrepair_dataset_XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr) std::abort();
    return std::string(buffer.data());
  }();
  return dir;
}

std::string WriteFile(const std::string& name, const std::string& bytes) {
  std::string path = TempDir() + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string WriteGzip(const std::string& name, const std::string& bytes) {
  std::string path = TempDir() + "/" + name;
  gzFile gz = gzopen(path.c_str(), "wb");
  if (!bytes.empty()) gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(gz);
  return path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string BigEndian32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string IdxHeader(int type, const std::vector<uint32_t>& dims) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) out += BigEndian32(d);
  return out;
}

std::string IdxU8(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  return IdxHeader(0x08, dims) + std::string(data.begin(), data.end());
}

// Big-endian bytes of each value's object representation.
template <typename T>
std::string BigEndian(const std::vector<T>& values) {
  std::string out;
  for (T v : values) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    for (size_t i = sizeof(T); i-- > 0;) out += bytes[i];
  }
  return out;
}

template <typename T>
std::string LittleEndian(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(&out[0], values.data(), out.size());
  return out;
}

std::string NpyRaw(int major, const std::string& dict, const std::string& data) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  uint32_t len = static_cast<uint32_t>(header.size());
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  if (major != 1) {
    out += static_cast<char>((len >> 16) & 0xff);
    out += static_cast<char>(len >> 24);
  }
  return out + header + data;
}

std::string Npy(int major, const std::string& descr, const std::string& shape,
                const std::string& data) {
  return NpyRaw(
      major, "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }", data);
}

DataOptions Options(const std::string& data, const std::string& labels = "") {
  DataOptions options;
  options.data_path = data;
  options.labels_path = labels;
  return options;
}

// Loading must fail with kBadInput, and the message must name `file` and contain `text`.
void ExpectBadInput(const DataOptions& options, const std::string& file, const std::string& text) {
  try {
    LoadDataset(options);
    ADD_FAILURE() << "expected an error naming " << file << " and '" << text << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput) << e.what();
    std::string what = e.what();
    std::string name = file.substr(file.find_last_of('/') + 1);
    EXPECT_NE(what.find(name), std::string::npos) << what;
    EXPECT_NE(what.find(text), std::string::npos) << "missing '" << text << "' in: " << what;
  }
}

// ---- ParseRowRange ---------------------------------------------------------------------------

TEST(DatasetTest, LabelsOutsideTheClassesNameTheFileRowAndValue) {
  Dataset d;
  d.labels = {0, 9, 10};
  d.first_row = 100;
  d.labels_source = "labels.idx";
  try {
    CheckLabelClasses(d, 10);
    FAIL() << "label 10 accepted for 10 classes";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("labels.idx: row 102: label 10 is not a class of the "
                                         "network: expected 0..9 (it has 10 outputs)"),
              std::string::npos)
        << e.what();
  }
  d.labels = {0, 9, 3};
  EXPECT_NO_THROW(CheckLabelClasses(d, 10));
  d.labels.clear();  // no labels: nothing to check
  EXPECT_NO_THROW(CheckLabelClasses(d, 2));
}

TEST(DatasetTest, ParsesRowRanges) {
  RowRange r = ParseRowRange("5:10", "--range");
  EXPECT_EQ(r.begin, 5);
  EXPECT_EQ(r.end, 10);
  r = ParseRowRange(":100", "--range");
  EXPECT_EQ(r.begin, 0);
  EXPECT_EQ(r.end, 100);
  r = ParseRowRange("5000:", "--range");
  EXPECT_EQ(r.begin, 5000);
  EXPECT_EQ(r.end, -1);
}

TEST(DatasetTest, RefusesBadRowRanges) {
  for (const char* text :
       {"10:5", "5:5", "a:b", "5", "-1:3", "1:2:3", "", " 1:2", "1.5:3", "99999999999999999999:"}) {
    try {
      ParseRowRange(text, "--holdout");
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kUsage);
      EXPECT_EQ(std::string(e.what()),
                std::string("--holdout: expected A:B with 0 <= A < B, got '") + text + "'");
    }
  }
}

// ---- IDX -------------------------------------------------------------------------------------

TEST(DatasetTest, LoadsPlainIdxWithScaleAndOffset) {
  std::string path = WriteFile("plain-idx3-ubyte", IdxU8({3, 2, 2}, {0, 255, 51, 102,  //
                                                                     1, 2, 3, 4,       //
                                                                     10, 20, 30, 40}));
  DataOptions options = Options(path);
  options.input_scale = 1.0 / 255;
  options.input_offset = -0.5;
  Dataset d = LoadDataset(options);
  EXPECT_EQ(d.source, path);
  EXPECT_EQ(d.rows, 3);
  EXPECT_EQ(d.features, 4);
  EXPECT_EQ(d.first_row, 0);
  ASSERT_EQ(d.values.size(), 12u);
  EXPECT_FLOAT_EQ(d.values[0], -0.5f);
  EXPECT_FLOAT_EQ(d.values[1], 0.5f);
  EXPECT_FLOAT_EQ(d.values[2], 0.2f - 0.5f);
  EXPECT_FLOAT_EQ(d.Row(2)[3], 40.0f / 255 - 0.5f);
  EXPECT_FALSE(d.HasLabels());
}

TEST(DatasetTest, LoadsGzipIdxWithGzipLabels) {
  std::string images = WriteGzip("img-idx3-ubyte.gz", IdxU8({2, 3}, {1, 2, 3, 4, 5, 6}));
  std::string labels = WriteGzip("lab-idx1-ubyte.gz", IdxU8({2}, {7, 2}));
  Dataset d = LoadDataset(Options(images, labels));
  EXPECT_EQ(d.rows, 2);
  EXPECT_EQ(d.features, 3);
  EXPECT_EQ(d.values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(d.labels, (std::vector<int>{7, 2}));
}

TEST(DatasetTest, LoadsEveryIdxElementType) {
  struct Case {
    int type;
    std::string data;
  } cases[] = {
      {0x09, BigEndian<int8_t>({-3, 4})},        {0x0B, BigEndian<int16_t>({-300, 4})},
      {0x0C, BigEndian<int32_t>({-3000000, 4})}, {0x0D, BigEndian<float>({-3.5f, 4})},
      {0x0E, BigEndian<double>({-3.5, 4})},
  };
  const float expected_first[] = {-3, -300, -3000000, -3.5f, -3.5f};
  for (size_t i = 0; i < 5; ++i) {
    std::string path = WriteFile("type" + std::to_string(i) + ".idx",
                                 IdxHeader(cases[i].type, {1, 2}) + cases[i].data);
    Dataset d = LoadDataset(Options(path));
    ASSERT_EQ(d.values.size(), 2u) << path;
    EXPECT_FLOAT_EQ(d.values[0], expected_first[i]) << path;
    EXPECT_FLOAT_EQ(d.values[1], 4.0f) << path;
  }
}

TEST(DatasetTest, KeepsOnlyTheRange) {
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 10 * 4; ++i) pixels.push_back(static_cast<uint8_t>(i));
  std::string plain = WriteFile("range-idx3-ubyte", IdxU8({10, 2, 2}, pixels));
  std::string gz = WriteGzip("range-idx3-ubyte.gz", IdxU8({10, 2, 2}, pixels));
  std::string labels = WriteFile("range-idx1-ubyte", IdxU8({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  for (const std::string& path : {plain, gz}) {
    DataOptions options = Options(path, labels);
    options.range = RowRange{3, 5};
    Dataset d = LoadDataset(options);
    EXPECT_EQ(d.rows, 2);
    EXPECT_EQ(d.first_row, 3);
    EXPECT_EQ(d.values, (std::vector<float>{12, 13, 14, 15, 16, 17, 18, 19}));
    EXPECT_EQ(d.labels, (std::vector<int>{3, 4}));

    options.range = ParseRowRange("8:", "--range");
    d = LoadDataset(options);
    EXPECT_EQ(d.rows, 2);
    EXPECT_EQ(d.first_row, 8);
    EXPECT_EQ(d.Row(1)[3], 39.0f);
    EXPECT_EQ(d.labels, (std::vector<int>{8, 9}));

    options.range = ParseRowRange(":10", "--range");
    EXPECT_EQ(LoadDataset(options).rows, 10);
  }
}

TEST(DatasetTest, RefusesRangesBeyondTheFile) {
  std::string path = WriteFile("short-idx3-ubyte", IdxU8({4, 1}, {1, 2, 3, 4}));
  DataOptions options = Options(path);
  options.range = RowRange{4, -1};
  ExpectBadInput(options, path, "4 rows");
  options.range = RowRange{1, 5};
  ExpectBadInput(options, path, "4 rows");
}

TEST(DatasetTest, SlicesRowsAndLabels) {
  std::string path = WriteFile("slice.csv", "1,2,0\n3,4,1\n5,6,2\n7,8,3\n");
  DataOptions options = Options(path);
  options.range = RowRange{1, -1};
  Dataset d = LoadDataset(options);
  Dataset s = d.Slice(1, 3);
  EXPECT_EQ(s.rows, 2);
  EXPECT_EQ(s.first_row, 2);
  EXPECT_EQ(s.values, (std::vector<float>{5, 6, 7, 8}));
  EXPECT_EQ(s.labels, (std::vector<int>{2, 3}));
  EXPECT_EQ(d.Slice(0, 0).rows, 0);
}

// ---- CSV -------------------------------------------------------------------------------------

TEST(DatasetTest, LoadsCsvWithHeaderAndLabelColumn) {
  std::string path = WriteFile("with_header.csv", "x0, x1 ,label\r\n0.5,-1,3\r\n\r\n2,+4e1,0\r\n");
  Dataset d = LoadDataset(Options(path));
  EXPECT_EQ(d.rows, 2);
  EXPECT_EQ(d.features, 2);
  EXPECT_EQ(d.values, (std::vector<float>{0.5f, -1, 2, 40}));
  EXPECT_EQ(d.labels, (std::vector<int>{3, 0}));
}

TEST(DatasetTest, LoadsCsvWithoutHeaderAndSeparateLabels) {
  std::string path = WriteFile("no_header.csv", "1,2,3\n4,5,6\n");
  std::string labels = WriteFile("labels.txt", "5\n6\n");
  Dataset d = LoadDataset(Options(path, labels));
  EXPECT_EQ(d.features, 3);
  EXPECT_EQ(d.values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(d.labels, (std::vector<int>{5, 6}));

  std::string npy_labels =
      WriteFile("labels.npy", Npy(1, "<i8", "(2,)", LittleEndian<int64_t>({1, 9})));
  EXPECT_EQ(LoadDataset(Options(path, npy_labels)).labels, (std::vector<int>{1, 9}));
  std::string gz = WriteGzip("no_header.csv.gz", "1,2,3\n4,5,6");
  EXPECT_EQ(LoadDataset(Options(gz, labels)).values.size(), 6u);
}

TEST(DatasetTest, CsvErrorsNameLineAndColumn) {
  std::string path = WriteFile("data.csv", "a,b,c\n1,2,0\n1,abc,0\n");
  ExpectBadInput(Options(path), path, "data.csv: line 3, column 2: expected a number, found 'abc'");
  path = WriteFile("ragged.csv", "1,2,0\n1,2,3,0\n");
  ExpectBadInput(Options(path), path, "ragged.csv: line 2: found 4 columns; expected 3");
  path = WriteFile("negative_label.csv", "1,2,0\n1,2,-1\n");
  ExpectBadInput(Options(path), path, "line 2, column 3: expected a label");
  path = WriteFile("fraction_label.csv", "1,2,0.5\n");
  ExpectBadInput(Options(path), path, "line 1, column 3");
  path = WriteFile("nan.csv", "1,2,0\nnan,2,1\n");
  ExpectBadInput(Options(path), path, "line 2, column 1: expected a finite number");
  path = WriteFile("inf.csv", "1,inf,0\n");
  ExpectBadInput(Options(path), path, "line 1, column 2");
  path = WriteFile("header_only.csv", "a,b,label\n");
  ExpectBadInput(Options(path), path, "no data rows");
  path = WriteFile("one_column.csv", "1\n2\n");
  ExpectBadInput(Options(path), path, "only one column");
  path = WriteFile("empty_cell.csv", "1,,0\n");
  ExpectBadInput(Options(path), path, "line 1, column 2: expected a number, found ''");
  path = WriteFile("empty.csv", "");
  ExpectBadInput(Options(path), path, "empty file");
  std::string data = WriteFile("ok.csv", "1,2\n3,4\n");
  std::string labels = WriteFile("two_columns.txt", "1,2\n3,4\n");
  ExpectBadInput(Options(data, labels), labels, "one integer label per line");
  labels = WriteFile("bad_label.txt", "1\nx\n");
  ExpectBadInput(Options(data, labels), labels, "line 2, column 1");
}

// ---- NumPy -----------------------------------------------------------------------------------

TEST(DatasetTest, LoadsNpyOfEveryDtypeAndVersion) {
  struct Case {
    std::string descr, data;
  } cases[] = {
      {"<f4", LittleEndian<float>({-1.5f, 2, 3, 4, 5, 6})},
      {"<f8", LittleEndian<double>({-1.5, 2, 3, 4, 5, 6})},
      {"|u1", LittleEndian<uint8_t>({0, 2, 3, 4, 5, 255})},
      {"|i1", LittleEndian<int8_t>({-1, 2, 3, 4, 5, 6})},
      {"<i2", LittleEndian<int16_t>({-1, 2, 3, 4, 5, 6})},
      {"<i4", LittleEndian<int32_t>({-1, 2, 3, 4, 5, 6})},
      {"<i8", LittleEndian<int64_t>({-1, 2, 3, 4, 5, 6})},
      {"<u2", LittleEndian<uint16_t>({0, 2, 3, 4, 5, 60000})},
      {"<u4", LittleEndian<uint32_t>({0, 2, 3, 4, 5, 4000000000u})},
  };
  int n = 0;
  for (const Case& c : cases) {
    for (int major : {1, 2, 3}) {
      std::string path = WriteFile("dtype" + std::to_string(n++) + ".npy",
                                   Npy(major, c.descr, "(2, 1, 3)", c.data));
      Dataset d = LoadDataset(Options(path));
      EXPECT_EQ(d.rows, 2) << c.descr;
      EXPECT_EQ(d.features, 3) << c.descr;
      ASSERT_EQ(d.values.size(), 6u) << c.descr;
      EXPECT_FLOAT_EQ(d.values[1], 2.0f) << c.descr;
    }
  }
  std::string path =
      WriteFile("range.npy", Npy(1, "<f4", "(3, 2)", LittleEndian<float>({1, 2, 3, 4, 5, 6})));
  DataOptions options = Options(path);
  options.range = RowRange{2, 3};
  EXPECT_EQ(LoadDataset(options).values, (std::vector<float>{5, 6}));
}

TEST(DatasetTest, RefusesMalformedNpy) {
  const std::string f4 = LittleEndian<float>({1, 2, 3, 4});
  struct Case {
    std::string name, bytes, text;
  } cases[] = {
      {"big_endian.npy", Npy(1, ">f4", "(2, 2)", f4), "'descr' is '>f4': big-endian"},
      {"complex.npy", Npy(1, "<c8", "(2, 2)", f4), "'descr' is '<c8'"},
      {"structured.npy",
       NpyRaw(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 2), }", f4),
       "'descr' is not a string"},
      {"fortran.npy", NpyRaw(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f4),
       "'fortran_order' is True"},
      {"zero_dim.npy", Npy(1, "<f4", "(0, 2)", ""), "dimension 0 = 0"},
      {"negative_dim.npy", Npy(1, "<f4", "(2, -2)", f4), "dimension 1 = -2"},
      {"scalar.npy", Npy(1, "<f4", "()", f4), "a scalar"},
      {"one_dim.npy", Npy(1, "<f4", "(4,)", f4), "labels file"},
      {"huge.npy", Npy(1, "<f4", "(1000000, 1000000)", f4), "at most 2147483648"},
      {"claims_more.npy", Npy(2, "<f4", "(100000000, 2)", f4),
       "truncated: expected 800000000 bytes of data"},
      {"truncated.npy", Npy(1, "<f4", "(2, 2)", f4.substr(0, 10)), "file ends after 10"},
      {"trailing.npy", Npy(1, "<f4", "(2, 2)", f4 + "xx"), "trailing data"},
      {"bad_magic.npy", "\x93NUMPZ" + std::string(100, ' '), "NumPy magic"},
      {"version4.npy", "\x93NUMPY\x04" + std::string(100, '\0'), "version 4.0"},
      {"missing_shape.npy", NpyRaw(1, "{'descr': '<f4', 'fortran_order': False, }", f4),
       "'shape' is missing"},
      {"extra_key.npy",
       NpyRaw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", f4),
       "unexpected header field 'x'"},
      {"garbled.npy", NpyRaw(1, "{'descr' '<f4'", f4), "expected ':'"},
      {"short_header.npy", std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 18), "truncated"},
      {"nan.npy", Npy(1, "<f4", "(2, 2)", LittleEndian<float>({1, 2, NAN, 4})), "row 1"},
      {"inf.npy", Npy(1, "<f8", "(2, 2)", LittleEndian<double>({1, INFINITY, 3, 4})), "row 0"},
      {"overflow.npy", Npy(1, "<f8", "(1, 2)", LittleEndian<double>({1, 1e300})),
       "not finite after scaling"},
  };
  for (const Case& c : cases) ExpectBadInput(Options(WriteFile(c.name, c.bytes)), c.name, c.text);
}

// ---- Labels ----------------------------------------------------------------------------------

TEST(DatasetTest, RefusesBadLabels) {
  std::string data = WriteFile("three-idx3-ubyte", IdxU8({3, 2}, {1, 2, 3, 4, 5, 6}));
  std::string labels = WriteFile("two-idx1-ubyte", IdxU8({2}, {1, 2}));
  try {
    LoadDataset(Options(data, labels));
    ADD_FAILURE() << "accepted a label count mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    std::string what = e.what();
    EXPECT_NE(what.find(labels + ": 2 labels"), std::string::npos) << what;
    EXPECT_NE(what.find(data + " has 3 rows"), std::string::npos) << what;
  }
  labels = WriteFile("negative-idx1", IdxHeader(0x09, {3}) + BigEndian<int8_t>({1, -2, 3}));
  ExpectBadInput(Options(data, labels), labels,
                 "label 1: expected a label (an integer >= 0), found -2");
  labels = WriteFile("fraction.npy", Npy(1, "<f4", "(3,)", LittleEndian<float>({1, 2.5f, 3})));
  ExpectBadInput(Options(data, labels), labels, "found 2.5");
  labels =
      WriteFile("matrix.npy", Npy(1, "<i4", "(3, 2)", LittleEndian<int32_t>({1, 2, 3, 4, 5, 6})));
  ExpectBadInput(Options(data, labels), labels, "expected one dimension");
  labels = WriteFile("labels_trailing-idx1", IdxU8({3}, {1, 2, 3, 4}));
  ExpectBadInput(Options(data, labels), labels, "trailing data");
  labels = WriteFile("labels_negative.txt", "1\n-2\n3\n");
  ExpectBadInput(Options(data, labels), labels, "line 2, column 1");
  ExpectBadInput(Options(data, TempDir() + "/no_such_labels"), "no_such_labels", "cannot open");
}

// ---- Malformed IDX and gzip ------------------------------------------------------------------

TEST(DatasetTest, RefusesMalformedIdx) {
  const std::string four = std::string("\x01\x02\x03\x04", 4);
  struct Case {
    std::string name, bytes, text;
  } cases[] = {
      {"magic.idx", "\x01\x02\x08\x02" + BigEndian32(2) + BigEndian32(2) + four,
       "byte 0: expected the IDX magic"},
      {"type.idx", IdxHeader(0x0A, {2, 2}) + four, "byte 2: unknown IDX data type 0a"},
      {"no_dims.idx", IdxHeader(0x08, {}) + four, "byte 3: the IDX header has 0 dimensions"},
      {"zero_dim.idx", IdxHeader(0x08, {2, 0}) + four, "byte 8: dimension 1 is 0"},
      {"short_header.idx", IdxHeader(0x08, {2, 2}).substr(0, 10),
       "truncated: expected a 12-byte IDX header"},
      {"tiny.idx", std::string("\0\0", 2), "truncated: expected the 4-byte IDX magic"},
      {"truncated.idx", IdxHeader(0x08, {2, 2}) + four.substr(0, 3),
       "truncated: expected 4 bytes of data (2 x 2 uint8) after the 12-byte header, file ends "
       "after 3"},
      {"trailing.idx", IdxHeader(0x08, {2, 2}) + four + "junk", "trailing data"},
      {"huge.idx", IdxHeader(0x08, {1000000, 1000000, 1000000}) + four, "at most 2147483648"},
      {"claims_billion.idx", IdxHeader(0x08, {1000000000, 2}) + four,
       "truncated: expected 2000000000 bytes of data"},
      {"one_dim.idx", IdxU8({4}, {1, 2, 3, 4}), "labels file"},
      {"nan.idx", IdxHeader(0x0D, {2, 2}) + BigEndian<float>({1, 2, 3, NAN}),
       "row 1: feature 1 is nan"},
      {"binary.bin", std::string("\x7f\x01\x02\x03", 4), "unrecognised format"},
  };
  for (const Case& c : cases) ExpectBadInput(Options(WriteFile(c.name, c.bytes)), c.name, c.text);
  ExpectBadInput(Options(WriteFile("empty.idx", "")), "empty.idx", "empty file");
  ExpectBadInput(Options(TempDir() + "/missing.idx"), "missing.idx", "cannot open: No such file");
  ExpectBadInput(Options(TempDir()), "qrepair_dataset_", "cannot open");
}

TEST(DatasetTest, RefusesMalformedGzip) {
  // A header claiming 10^9 elements must fail from the data actually there, not allocate.
  std::string path = WriteGzip("claims-idx3-ubyte.gz", IdxHeader(0x08, {1000000000, 1}) + "abc");
  ExpectBadInput(Options(path), path, "truncated: expected 1000000000 bytes of data");
  ExpectBadInput(Options(path), path, "file ends after 3");

  path = WriteGzip("trailing-idx3-ubyte.gz", IdxU8({1, 2}, {1, 2, 3}));
  ExpectBadInput(Options(path), path, "trailing data");

  std::string pixels(20000, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>((i * 7919) % 251);
  std::string good = ReadFile(WriteGzip("good-idx3-ubyte.gz", IdxU8({20, 1000}, {}) + pixels));
  std::string corrupt = good;
  for (size_t i = corrupt.size() / 2; i < corrupt.size() / 2 + 16; ++i) corrupt[i] ^= 0x5a;
  path = WriteFile("corrupt-idx3-ubyte.gz", corrupt);
  ExpectBadInput(Options(path), path, "compressed byte");
  path = WriteFile("cut-idx3-ubyte.gz", good.substr(0, good.size() / 2));
  ExpectBadInput(Options(path), path, "gzip");
  path = WriteFile("crc-idx3-ubyte.gz", good.substr(0, good.size() - 8) + std::string(8, '\x01'));
  ExpectBadInput(Options(path), path, "corrupt gzip data");
}

// ---- Real data -------------------------------------------------------------------------------

std::string SharedData() {
  const char* env = std::getenv("QREPAIR_SHARED_DATA");
  return env != nullptr ? env : QREPAIR_SOURCE_DIR "/../shared/data";
}

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

void CheckMnistLike(const std::string& images, const std::string& labels) {
  DataOptions options = Options(images, labels);
  options.input_scale = 1.0 / 255;
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu_start = std::clock();
  Dataset d = LoadDataset(options);
  double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("loaded %lld x %lld from %s in %.3f s (%.3f s CPU)\n", static_cast<long long>(d.rows),
              static_cast<long long>(d.features), images.c_str(), seconds, cpu);
  EXPECT_EQ(d.rows, 10000);
  EXPECT_EQ(d.features, 784);
  ASSERT_EQ(d.labels.size(), 10000u);
  for (int label : d.labels) ASSERT_TRUE(label >= 0 && label <= 9);
  for (float v : d.values) ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
  EXPECT_LT(seconds, 1.0);  // typically ~0.05 s; generous for a shared machine

  options.range = ParseRowRange("5000:", "--range");
  Dataset holdout = LoadDataset(options);
  EXPECT_EQ(holdout.rows, 5000);
  EXPECT_EQ(holdout.first_row, 5000);
  EXPECT_EQ(holdout.values, std::vector<float>(d.values.begin() + 5000 * 784, d.values.end()));
  EXPECT_EQ(holdout.labels, std::vector<int>(d.labels.begin() + 5000, d.labels.end()));
}

TEST(DatasetTest, LoadsRealMnist) {
  std::string dir = SharedData() + "/mnist/";
  if (!Exists(dir + "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no MNIST under " << dir;
  CheckMnistLike(dir + "t10k-images-idx3-ubyte.gz", dir + "t10k-labels-idx1-ubyte.gz");
  Dataset first =
      LoadDataset(Options(dir + "t10k-images-idx3-ubyte.gz", dir + "t10k-labels-idx1-ubyte.gz"));
  EXPECT_EQ(first.labels[0], 7);  // the well-known first MNIST test digit
}

TEST(DatasetTest, LoadsRealFashionMnist) {
  std::string dir = "/usr/share/datasets/fashion-mnist/";
  if (!Exists(dir + "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no Fashion-MNIST in " << dir;
  CheckMnistLike(dir + "t10k-images-idx3-ubyte.gz", dir + "t10k-labels-idx1-ubyte.gz");
}

}  // namespace
}  // namespace qrepair
