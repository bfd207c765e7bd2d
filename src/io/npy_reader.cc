// The NumPy .npy header: "\x93NUMPY", version (1.0, 2.0, 3.0), a little-endian header length
// and a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, ...), }.
#include <cctype>
#include <cstdio>
#include <cstring>
#include <string>

#include "io/data_readers.h"
#include "qrepair/error.h"

namespace qrepair {
namespace data {
namespace {

constexpr uint32_t kMaxHeaderBytes = 1 << 16;

// A tiny parser for the dict literal numpy writes; it accepts exactly the three keys.
class DictParser {
 public:
  DictParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  void Parse(std::string* descr, bool* fortran_order, std::vector<int64_t>* shape) {
    bool seen_descr = false, seen_order = false, seen_shape = false;
    Expect('{');
    while (!Accept('}')) {
      std::string key = String("a key");
      Expect(':');
      if (key == "descr") {
        if (Peek() != '\'' && Peek() != '"') {
          Fail("header field 'descr' is not a string; structured dtypes are not supported");
        }
        *descr = String("the dtype");
        seen_descr = true;
      } else if (key == "fortran_order") {
        *fortran_order = Bool();
        seen_order = true;
      } else if (key == "shape") {
        *shape = Tuple();
        seen_shape = true;
      } else {
        Fail("unexpected header field '" + key + "'; expected 'descr', 'fortran_order', 'shape'");
      }
      if (!Accept(',')) {
        Expect('}');
        break;
      }
    }
    Skip();
    if (pos_ != text_.size()) Fail("unexpected text after the header dict");
    if (!seen_descr) Fail("header field 'descr' is missing");
    if (!seen_order) Fail("header field 'fortran_order' is missing");
    if (!seen_shape) Fail("header field 'shape' is missing");
  }

 private:
  [[noreturn]] void Fail(const std::string& message) { throw BadInput(path_, "header", message); }
  void Skip() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  char Peek() {
    Skip();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool Accept(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  void Expect(char c) {
    if (!Accept(c)) {
      std::string found = pos_ < text_.size() ? std::string("'") + text_[pos_] + "'" : "the end";
      Fail(std::string("expected '") + c + "' at character " + std::to_string(pos_) +
           " of the header dict, found " + found);
    }
  }
  std::string String(const char* what) {
    char quote = Peek();
    if (quote != '\'' && quote != '"') Fail(std::string("expected ") + what + " in quotes");
    size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) Fail("unterminated string in the header dict");
    std::string value = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return value;
  }
  bool Bool() {
    Skip();
    for (const char* word : {"True", "False"}) {
      size_t n = std::strlen(word);
      if (text_.compare(pos_, n, word) == 0) {
        pos_ += n;
        return word[0] == 'T';
      }
    }
    Fail("header field 'fortran_order' is not True or False");
  }
  std::vector<int64_t> Tuple() {
    std::vector<int64_t> values;
    if (!Accept('(')) Fail("header field 'shape' is not a tuple");
    while (!Accept(')')) {
      Skip();
      size_t start = pos_;
      if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      std::string number = text_.substr(start, pos_ - start);
      if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 long
      if (number.empty() || number == "-" || number.size() > 18) {
        Fail("header field 'shape' holds '" + text_.substr(start, 20) +
             "'; expected non-negative integers");
      }
      values.push_back(std::stoll(number));
      if (!Accept(',')) {
        Expect(')');
        break;
      }
    }
    return values;
  }

  const std::string& text_;
  const std::string& path_;
  size_t pos_ = 0;
};

ElementFormat DtypeFormat(const std::string& descr, const std::string& path) {
  static const struct {
    const char* name;
    ElementType type;
  } kTypes[] = {{"<f4", ElementType::kF32}, {"<f8", ElementType::kF64}, {"|u1", ElementType::kU8},
                {"|i1", ElementType::kI8},  {"<i2", ElementType::kI16}, {"<i4", ElementType::kI32},
                {"<i8", ElementType::kI64}, {"<u2", ElementType::kU16}, {"<u4", ElementType::kU32},
                {"<u1", ElementType::kU8},  {"<i1", ElementType::kI8}};
  for (const auto& t : kTypes) {
    if (descr == t.name) return ElementFormat{t.type, false};
  }
  if (!descr.empty() && descr[0] == '>') {
    throw BadInput(path, "header",
                   "header field 'descr' is '" + descr +
                       "': big-endian data is not supported; expected little-endian ('<')");
  }
  throw BadInput(path, "header",
                 "header field 'descr' is '" + descr +
                     "'; expected one of <f4 <f8 |u1 |i1 <i2 <i4 <i8 <u2 <u4");
}

}  // namespace

ArrayHeader ReadNpyHeader(ByteSource& source) {
  const std::string& path = source.path();
  unsigned char prefix[8];
  source.ReadExact(prefix, 8, "the 8-byte NumPy magic and version");
  if (std::memcmp(prefix, "\x93NUMPY", 6) != 0) {
    throw BadInput(path, "byte 0", "expected the NumPy magic \\x93NUMPY");
  }
  const int major = prefix[6], minor = prefix[7];
  if ((major < 1 || major > 3) || minor != 0) {
    throw BadInput(path, "byte 6",
                   "unsupported .npy version " + std::to_string(major) + "." +
                       std::to_string(minor) + "; expected 1.0, 2.0 or 3.0");
  }
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  const size_t len_size = major == 1 ? 2 : 4;
  source.ReadExact(len_bytes, len_size, "the header length");
  uint32_t header_len = uint32_t{len_bytes[0]} | (uint32_t{len_bytes[1]} << 8) |
                        (uint32_t{len_bytes[2]} << 16) | (uint32_t{len_bytes[3]} << 24);
  if (header_len > kMaxHeaderBytes) {
    throw BadInput(path, "byte 8",
                   "header length " + std::to_string(header_len) + " is larger than " +
                       std::to_string(kMaxHeaderBytes) + " bytes");
  }
  std::string text(header_len, '\0');
  source.ReadExact(&text[0], header_len, "a " + std::to_string(header_len) + "-byte header dict");

  std::string descr;
  bool fortran_order = false;
  ArrayHeader header;
  header.format_name = "NumPy";
  DictParser(text, path).Parse(&descr, &fortran_order, &header.shape);
  header.format = DtypeFormat(descr, path);
  if (fortran_order) {
    throw BadInput(path, "header",
                   "header field 'fortran_order' is True; expected False (save a C-ordered "
                   "array, e.g. np.ascontiguousarray)");
  }
  if (header.shape.empty()) {
    throw BadInput(path, "header", "header field 'shape' is (), a scalar; expected an array");
  }
  int64_t elements = 1;
  for (size_t i = 0; i < header.shape.size(); ++i) {
    int64_t size = header.shape[i];
    if (size <= 0) {
      throw BadInput(path, "header",
                     "header field 'shape' has dimension " + std::to_string(i) + " = " +
                         std::to_string(size) + "; expected >= 1");
    }
    if (elements > kMaxElements / size) {
      throw BadInput(path, "header",
                     "header field 'shape' claims more than " + std::to_string(kMaxElements) +
                         " elements (" + ShapeText(header.shape) + "); at most " +
                         std::to_string(kMaxElements) + " are supported");
    }
    elements *= size;
  }
  return header;
}

}  // namespace data
}  // namespace qrepair
