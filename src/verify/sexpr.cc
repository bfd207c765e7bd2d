// The S-expression reader of the VNN-LIB parser: tokens with positions, lists by an explicit
// stack (so a hostile file cannot overflow the call stack), and ninja-style error messages.
#include "verify/sexpr.h"

#include <utility>

namespace qrepair {

namespace {

constexpr size_t kMaxDepth = 1000;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool EndsAtom(char c) { return IsSpace(c) || c == '(' || c == ')' || c == ';'; }

}  // namespace

SexprSource::SexprSource(const std::string& text, std::string source)
    : text_(text), source_(std::move(source)) {}

Error SexprSource::ErrorAt(int line, int column, const std::string& message) const {
  std::string out =
      source_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
  // The offending line, then a marker under the column (tabs kept so the marker lines up).
  size_t begin = 0;
  for (int l = 1; l < line && begin != std::string::npos; ++l) {
    begin = text_.find('\n', begin);
    if (begin != std::string::npos) ++begin;
  }
  if (begin == std::string::npos || begin > text_.size()) return Error(ExitCode::kBadInput, out);
  size_t end = text_.find('\n', begin);
  std::string shown = text_.substr(begin, end == std::string::npos ? end : end - begin);
  if (!shown.empty() && shown.back() == '\r') shown.pop_back();
  constexpr size_t kMaxShown = 160;  // a long line is cut around the column
  size_t from = 0;
  if (shown.size() > kMaxShown && static_cast<size_t>(column) > kMaxShown / 2) {
    from = static_cast<size_t>(column) - kMaxShown / 2;
  }
  shown = shown.substr(from, kMaxShown);
  for (char& c : shown) {  // control bytes would garble the terminal (and NUL cuts what())
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') c = '?';
  }
  std::string marker;
  for (size_t i = from; i + 1 < static_cast<size_t>(column) && i - from < shown.size(); ++i) {
    marker += shown[i - from] == '\t' ? '\t' : ' ';
  }
  out += "\n" + shown + "\n" + marker + "^ near here";
  return Error(ExitCode::kBadInput, out);
}

std::vector<Sexpr> ReadSexprs(const SexprSource& source) {
  const std::string& text = source.text();
  std::vector<Sexpr> top;
  std::vector<Sexpr> open;  // the lists not yet closed, outermost first
  int line = 1, column = 1;
  size_t i = 0;
  auto advance = [&](char c) {
    ++i;
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  };
  auto place = [&](Sexpr done) {
    if (open.empty()) {
      top.push_back(std::move(done));
    } else {
      open.back().items.push_back(std::move(done));
    }
  };
  while (i < text.size()) {
    char c = text[i];
    if (IsSpace(c)) {
      advance(c);
    } else if (c == ';') {
      while (i < text.size() && text[i] != '\n') advance(text[i]);
    } else if (c == '(') {
      if (open.size() >= kMaxDepth) {
        throw source.ErrorAt(line, column, "parentheses nested deeper than 1000");
      }
      Sexpr list;
      list.is_list = true;
      list.line = line;
      list.column = column;
      open.push_back(std::move(list));
      advance(c);
    } else if (c == ')') {
      if (open.empty()) {
        throw source.ErrorAt(line, column, "unexpected ')': no '(' is open here");
      }
      Sexpr done = std::move(open.back());
      open.pop_back();
      place(std::move(done));
      advance(c);
    } else {
      Sexpr atom;
      atom.line = line;
      atom.column = column;
      size_t begin = i;
      while (i < text.size() && !EndsAtom(text[i])) advance(text[i]);
      atom.atom = text.substr(begin, i - begin);
      place(std::move(atom));
    }
  }
  if (!open.empty()) {
    const Sexpr& unclosed = open.back();
    throw source.ErrorAt(unclosed.line, unclosed.column,
                         "this '(' is never closed (the file ends first)");
  }
  return top;
}

}  // namespace qrepair
