// The VNN-LIB reader (vnnlib.h): declarations, linear atoms as exact rationals, the asserts'
// conjunction in disjunctive normal form, then one box and one output clause per disjunct.
#include "qrepair/verify/vnnlib.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "verify/sexpr.h"

namespace qrepair {

namespace {

// A variable: an input X_i or an output Y_j.
struct Variable {
  bool output = false;
  int index = 0;
  bool operator<(const Variable& o) const {
    return output != o.output ? output < o.output : index < o.index;
  }
};

// sum coefficients[v] * v + constant.
struct Linear {
  std::map<Variable, Rational> coefficients;
  Rational constant;
  bool IsConstant() const { return coefficients.empty(); }
};

Linear Scaled(Linear a, const Rational& factor) {
  for (auto& [v, c] : a.coefficients) c *= factor;
  a.constant *= factor;
  if (factor == 0) a.coefficients.clear();
  return a;
}

void AddTo(Linear& sum, const Linear& a) {
  for (const auto& [v, c] : a.coefficients) {
    Rational& s = sum.coefficients[v];
    s += c;
    if (s == 0) sum.coefficients.erase(v);
  }
  sum.constant += a.constant;
}

// An atom normalized to sum coefficients[v] * v <= bound, over inputs only or outputs only.
struct Atom {
  Linear lhs;  // constant is 0
  Rational bound;
  bool output = false;
  const Sexpr* at = nullptr;
};

using Conjunction = std::vector<int>;      // atom indices
using Dnf = std::vector<Conjunction>;      // a disjunction
constexpr size_t kMaxDnfAtoms = 20000000;  // atom references after distributing and over or

// Decimal or scientific notation as an exact rational: [+-]digits[.digits][(e|E)[+-]digits].
std::optional<Rational> ParseNumber(const std::string& s) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  std::string digits;
  int fraction_digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) digits += s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      digits += s[i++];
      ++fraction_digits;
    }
  }
  if (digits.empty()) return std::nullopt;
  long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exponent_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) exponent_negative = s[i++] == '-';
    size_t first = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (exponent > 100000) return std::nullopt;
      exponent = exponent * 10 + (s[i++] - '0');
    }
    if (i == first) return std::nullopt;
    if (exponent_negative) exponent = -exponent;
  }
  if (i != s.size()) return std::nullopt;
  exponent -= fraction_digits;
  // Beyond double's range nothing in a network's semantics can tell such constants apart.
  if (exponent > 400 || exponent < -400 - static_cast<long>(digits.size())) return std::nullopt;
  mpz_class mantissa(digits, 10), power;
  mpz_ui_pow_ui(power.get_mpz_t(), 10,
                static_cast<unsigned long>(exponent < 0 ? -exponent : exponent));
  Rational value = exponent < 0 ? Rational(mantissa, power) : Rational(mantissa * power);
  value.canonicalize();
  return negative ? Rational(-value) : value;
}

bool LooksNumeric(const std::string& s) {
  size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  return i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.');
}

class Reader {
 public:
  explicit Reader(const SexprSource& source) : src_(source) {}

  Property Read(const std::vector<Sexpr>& top);

 private:
  void Declare(const Sexpr& command);
  Dnf Formula(const Sexpr& f);
  Linear Term(const Sexpr& t);
  int MakeAtom(const Sexpr& f, const Linear& lhs, const Linear& rhs);
  static void AndInto(Dnf& into, const Dnf& other, const Sexpr& at, const SexprSource& src);
  Property Regions(const Dnf& dnf, const Sexpr& first_assert);
  std::string Name(const Variable& v) const {
    return (v.output ? "Y_" : "X_") + std::to_string(v.index);
  }

  const SexprSource& src_;
  std::map<std::string, Variable> names_;
  std::map<Variable, const Sexpr*> declared_at_;
  std::vector<Atom> atoms_;
};

void Reader::Declare(const Sexpr& c) {
  if (c.items.size() != 3 || c.items[1].is_list || c.items[2].is_list) {
    throw src_.ErrorAt(c, "expected (declare-const NAME Real)");
  }
  const Sexpr& name = c.items[1];
  const std::string& n = name.atom;
  bool output = !n.empty() && n[0] == 'Y';
  bool digits = n.size() > 2 && n[1] == '_' && (n[0] == 'X' || n[0] == 'Y') &&
                n.find_first_not_of("0123456789", 2) == std::string::npos && n.size() <= 9 &&
                (n[2] != '0' || n.size() == 3);
  if (!digits) {
    throw src_.ErrorAt(name,
                       "expected an input X_<i> or an output Y_<j> (i, j from 0), got '" + n + "'");
  }
  if (c.items[2].atom != "Real") {
    throw src_.ErrorAt(c.items[2], "expected the sort Real, got '" + c.items[2].atom + "'");
  }
  if (names_.count(n)) throw src_.ErrorAt(name, "'" + n + "' is declared twice");
  Variable v{output, std::stoi(n.substr(2))};
  names_[n] = v;
  declared_at_[v] = &name;
}

Linear Reader::Term(const Sexpr& t) {
  Linear out;
  if (!t.is_list) {
    if (LooksNumeric(t.atom)) {
      std::optional<Rational> value = ParseNumber(t.atom);
      if (!value) {
        throw src_.ErrorAt(t, "malformed number '" + t.atom +
                                  "' (expected decimal or scientific notation, exponent within "
                                  "+-400)");
      }
      out.constant = *value;
      return out;
    }
    auto it = names_.find(t.atom);
    if (it == names_.end()) {
      throw src_.ErrorAt(t, "'" + t.atom + "' is not declared (declare-const it before use)");
    }
    out.coefficients[it->second] = 1;
    return out;
  }
  const char* expected =
      "expected a linear term: a variable, a number, (+ t...), (- t...) or (* c t)";
  if (t.items.empty() || t.items[0].is_list) throw src_.ErrorAt(t, expected);
  const std::string& op = t.items[0].atom;
  if (t.items.size() < 2 || (op != "+" && op != "-" && op != "*")) {
    throw src_.ErrorAt(t.items.empty() ? t : t.items[0], expected);
  }
  if (op == "+") {
    for (size_t i = 1; i < t.items.size(); ++i) AddTo(out, Term(t.items[i]));
  } else if (op == "-") {
    out = Term(t.items[1]);
    if (t.items.size() == 2) return Scaled(out, -1);
    for (size_t i = 2; i < t.items.size(); ++i) AddTo(out, Scaled(Term(t.items[i]), -1));
  } else {
    out.constant = 1;
    for (size_t i = 1; i < t.items.size(); ++i) {
      Linear factor = Term(t.items[i]);
      if (factor.IsConstant()) {
        out = Scaled(out, factor.constant);
      } else if (out.IsConstant()) {
        out = Scaled(factor, out.constant);
      } else {
        throw src_.ErrorAt(t.items[i], "a product of two variables is not linear");
      }
    }
  }
  return out;
}

int Reader::MakeAtom(const Sexpr& f, const Linear& lhs, const Linear& rhs) {
  Linear difference = lhs;  // lhs - rhs <= 0
  AddTo(difference, Scaled(rhs, -1));
  Atom atom;
  atom.at = &f;
  atom.bound = -difference.constant;
  difference.constant = 0;
  bool inputs = false, outputs = false;
  for (const auto& [v, c] : difference.coefficients) (v.output ? outputs : inputs) = true;
  if (!inputs && !outputs) {
    throw src_.ErrorAt(f, "compares constants only: expected a constraint on X_i or Y_j");
  }
  if (inputs && outputs) {
    throw src_.ErrorAt(f, "mixes inputs and outputs: a constraint is over X_i only or Y_j only");
  }
  atom.output = outputs;
  atom.lhs = std::move(difference);
  atoms_.push_back(std::move(atom));
  return static_cast<int>(atoms_.size()) - 1;
}

void Reader::AndInto(Dnf& into, const Dnf& other, const Sexpr& at, const SexprSource& src) {
  if (other.size() == 1) {  // the common case (a plain atom): append in place
    for (Conjunction& c : into) c.insert(c.end(), other[0].begin(), other[0].end());
    return;
  }
  Dnf product;
  size_t total = 0;
  for (const Conjunction& a : into) {
    for (const Conjunction& b : other) {
      total += a.size() + b.size();
      if (total > kMaxDnfAtoms) {
        throw src.ErrorAt(at,
                          "too many disjuncts after distributing 'and' over 'or' (the "
                          "unsafe set's disjunctive normal form exceeds 20 million atoms)");
      }
      Conjunction c = a;
      c.insert(c.end(), b.begin(), b.end());
      product.push_back(std::move(c));
    }
  }
  into = std::move(product);
}

Dnf Reader::Formula(const Sexpr& f) {
  const char* expected = "expected (and ...), (or ...), (<= a b) or (>= a b)";
  if (!f.is_list || f.items.empty() || f.items[0].is_list) throw src_.ErrorAt(f, expected);
  const std::string& op = f.items[0].atom;
  if (op == "and") {
    Dnf out = {Conjunction{}};
    for (size_t i = 1; i < f.items.size(); ++i) AndInto(out, Formula(f.items[i]), f, src_);
    return out;
  }
  if (op == "or") {
    Dnf out;
    for (size_t i = 1; i < f.items.size(); ++i) {
      Dnf d = Formula(f.items[i]);
      out.insert(out.end(), std::make_move_iterator(d.begin()), std::make_move_iterator(d.end()));
    }
    return out;
  }
  if (op == "<=" || op == ">=") {
    if (f.items.size() != 3) {
      throw src_.ErrorAt(f, "expected (" + op + " a b) with exactly two terms");
    }
    Linear a = Term(f.items[1]), b = Term(f.items[2]);
    return {Conjunction{op == "<=" ? MakeAtom(f, a, b) : MakeAtom(f, b, a)}};
  }
  throw src_.ErrorAt(f.items[0], std::string(expected) + ", got '" + op + "'");
}

std::string BoxKey(const InputBox& box) {
  std::string key;
  for (size_t i = 0; i < box.lower.size(); ++i) {
    key += box.lower[i].get_str() + ":" + box.upper[i].get_str() + ",";
  }
  return key;
}

Property Reader::Regions(const Dnf& dnf, const Sexpr& first_assert) {
  Property p;
  p.source = src_.source();
  for (const auto& [v, at] : declared_at_) (v.output ? p.num_outputs : p.num_inputs) += 1;
  for (const auto& [v, at] : declared_at_) {  // indices must run 0..n-1
    int count = v.output ? p.num_outputs : p.num_inputs;
    if (v.index < count) continue;
    int missing = 0;
    while (declared_at_.count(Variable{v.output, missing})) ++missing;
    throw src_.ErrorAt(*at, "'" + Name(v) + "' is declared but " + Name({v.output, missing}) +
                                " is not: indices must run from 0 without gaps");
  }
  if (p.num_inputs == 0 || p.num_outputs == 0) {
    throw src_.ErrorAt(
        first_assert,
        std::string("no ") + (p.num_inputs ? "output Y_0" : "input X_0") + " is declared");
  }
  std::map<std::string, size_t> region_of_box;
  std::vector<std::map<std::string, bool>> clauses_seen;
  for (const Conjunction& conjunction : dnf) {
    std::vector<std::optional<Rational>> lower(p.num_inputs), upper(p.num_inputs);
    OutputClause clause;
    std::string clause_key;
    for (int a : conjunction) {
      const Atom& atom = atoms_[a];
      if (!atom.output) {
        if (atom.lhs.coefficients.size() != 1) {
          throw src_.ErrorAt(*atom.at,
                             "an input constraint must bound one input (X_i <= c or X_i >= c): "
                             "the unsafe region's inputs form a box");
        }
        const auto& [v, c] = *atom.lhs.coefficients.begin();
        Rational value = atom.bound / c;
        std::optional<Rational>& side = c > 0 ? upper[v.index] : lower[v.index];
        if (!side || (c > 0 ? value < *side : value > *side)) side = value;
        continue;
      }
      OutputConstraint oc;
      oc.coefficients.assign(p.num_outputs, Rational(0));
      for (const auto& [v, c] : atom.lhs.coefficients) oc.coefficients[v.index] = c;
      oc.bound = atom.bound;
      for (const Rational& c : oc.coefficients) clause_key += c.get_str() + ",";
      clause_key += "<=" + oc.bound.get_str() + ";";
      clause.constraints.push_back(std::move(oc));
    }
    InputBox box;
    bool empty = false;
    for (int i = 0; i < p.num_inputs; ++i) {
      if (!lower[i] || !upper[i]) {
        const Sexpr* at = declared_at_.at(Variable{false, i});
        throw src_.ErrorAt(*at, "input X_" + std::to_string(i) + " has no " +
                                    (lower[i] ? "upper" : "lower") +
                                    " bound in a disjunct of the asserts: the unsafe region "
                                    "must be a bounded box");
      }
      empty = empty || *lower[i] > *upper[i];
      box.lower.push_back(*lower[i]);
      box.upper.push_back(*upper[i]);
    }
    if (empty) continue;  // no input satisfies this disjunct
    auto [it, added] = region_of_box.emplace(BoxKey(box), p.regions.size());
    if (added) {
      p.regions.push_back(UnsafeRegion{std::move(box), {}});
      clauses_seen.emplace_back();
    }
    if (clauses_seen[it->second].emplace(clause_key, true).second) {
      p.regions[it->second].clauses.push_back(std::move(clause));
    }
  }
  if (p.regions.empty()) {
    throw src_.ErrorAt(first_assert,
                       "the unsafe set is empty: every disjunct of the asserts has an empty input "
                       "box (some lower bound above its upper bound)");
  }
  return p;
}

Property Reader::Read(const std::vector<Sexpr>& top) {
  Dnf dnf = {Conjunction{}};
  const Sexpr* first_assert = nullptr;
  for (const Sexpr& command : top) {
    if (!command.is_list || command.items.empty() || command.items[0].is_list) {
      throw src_.ErrorAt(command, "expected (declare-const NAME Real) or (assert ...)");
    }
    const std::string& head = command.items[0].atom;
    if (head == "declare-const") {
      Declare(command);
    } else if (head == "assert") {
      if (command.items.size() != 2) {
        throw src_.ErrorAt(command, "expected (assert FORMULA) with one formula");
      }
      if (!first_assert) first_assert = &command;
      AndInto(dnf, Formula(command.items[1]), command, src_);
    } else {
      throw src_.ErrorAt(command.items[0], "expected declare-const or assert, got '" + head + "'");
    }
  }
  if (!first_assert) {
    throw BadInput(src_.source(), "", "no (assert ...): a VNN-LIB property needs at least one");
  }
  return Regions(dnf, *first_assert);
}

std::string Stem(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string ext = ".vnnlib";
  if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
    name.resize(name.size() - ext.size());
  }
  return name;
}

}  // namespace

Property ParseVnnlibText(const std::string& text, const std::string& source) {
  SexprSource src(text, source);
  std::vector<Sexpr> top = ReadSexprs(src);
  Reader reader(src);
  Property p = reader.Read(top);
  p.name = Stem(source);
  return p;
}

Property ParseVnnlib(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw BadInput(path, "", std::string("cannot read the property: ") + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw BadInput(path, "", "cannot read the property");
  return ParseVnnlibText(text.str(), path);
}

}  // namespace qrepair
