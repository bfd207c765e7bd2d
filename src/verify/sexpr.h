// S-expressions of an SMT-LIB text, each with its line and column, for the VNN-LIB reader and
// for messages that point at the exact place of a mistake.
#pragma once

#include <string>
#include <vector>

#include "qrepair/error.h"

namespace qrepair {

struct Sexpr {
  bool is_list = false;
  std::string atom;          // the token, when !is_list
  std::vector<Sexpr> items;  // the elements, when is_list
  int line = 0, column = 0;  // 1-based: the atom's first character, or the list's '('
};

// The text being read, to build messages "SOURCE:LINE:COL: message" followed by the line and a
// `^ near here` marker under the column.
class SexprSource {
 public:
  // `text` must outlive this object.
  SexprSource(const std::string& text, std::string source);
  const std::string& text() const { return text_; }
  const std::string& source() const { return source_; }
  Error ErrorAt(int line, int column, const std::string& message) const;
  Error ErrorAt(const Sexpr& at, const std::string& message) const {
    return ErrorAt(at.line, at.column, message);
  }

 private:
  const std::string& text_;
  std::string source_;
};

// Reads every top-level expression. `;` starts a comment up to the end of the line. Throws
// Error(kBadInput) through `source` on an unbalanced parenthesis or nesting deeper than 1000.
std::vector<Sexpr> ReadSexprs(const SexprSource& source);

}  // namespace qrepair
