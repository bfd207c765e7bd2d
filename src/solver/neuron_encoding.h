// The Z3 encodings of one neuron's repair problem (private to src/solver/; only files here
// include z3++.h). The search that uses them is smt_encoder.cc.
//
// Variables: for every weight j that may move, its change d_j = w'_j - w_j in [lo_j - w_j,
// hi_j - w_j], held as a k_j-bit two's-complement bit-vector (k_j just wide enough). The
// accumulator change of a row is L = sum_j x_j d_j + d_b, and the row is right iff
// acc + L lies in one of its good intervals [g.lo, g.hi], i.e. g.lo - acc <= L <= g.hi - acc.
//   bv:  L as a W-bit bit-vector sum of sign-extended d_j times constants; bvsle/bvsge.
//   pb:  d_j = -2^(k-1) b_{j,k-1} + sum_{i<k-1} 2^i b_{j,i}, so L = sum_{j,i} c_i x_j b_{j,i}
//        is a pseudo-Boolean sum and each bound one PB constraint (negative coefficients are
//        flipped onto the negated literal).
//   lia: d_j as bounded integers, L as a linear term (Z3's arith.solver=2).
#pragma once

#include <z3++.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "qrepair/repair/repair_problem.h"
#include "qrepair/solver/neuron_solver.h"

namespace qrepair::encoding {

inline int WidthFor(int64_t lo, int64_t hi) {  // two's-complement bits holding [lo, hi]
  int k = 1;
  while (lo < -(int64_t{1} << (k - 1)) || hi > (int64_t{1} << (k - 1)) - 1) ++k;
  return k;
}

struct Term {  // one movable parameter: d_j with coefficient x (row-dependent)
  int index;   // weight index, or -1 for the bias
  int64_t dlo, dhi;
  int width;
};

class Encoder {
 public:
  Encoder(z3::context& ctx, const NeuronRepairProblem& p, Encoding e) : ctx_(ctx), p_(p), e_(e) {
    for (size_t j = 0; j < p.weight.size(); ++j) {
      if (p.weight_lo[j] < p.weight_hi[j]) {
        terms_.push_back(
            {static_cast<int>(j), p.weight_lo[j] - p.weight[j], p.weight_hi[j] - p.weight[j], 0});
      }
    }
    if (p.bias_lo < p.bias_hi) terms_.push_back({-1, p.bias_lo - p.bias, p.bias_hi - p.bias, 0});
    int64_t span = 1;
    for (const SampleRow& r : p.rows) {
      AccInterval rr = ReachableRange(p, r);
      span = std::max({span, std::abs(rr.lo - r.acc), std::abs(rr.hi - r.acc)});
    }
    sum_width_ = WidthFor(-4 * span, 4 * span) + 1;
    for (Term& t : terms_) {
      t.width = WidthFor(t.dlo, t.dhi);
      std::string name = t.index < 0 ? "d_bias" : "d_" + std::to_string(t.index);
      if (e_ == Encoding::kLinearInteger) {
        vars_.push_back(ctx_.int_const(name.c_str()));
      } else if (e_ == Encoding::kBitVector) {
        vars_.push_back(ctx_.bv_const(name.c_str(), t.width));
      } else {
        z3::expr_vector bits(ctx_);
        for (int i = 0; i < t.width; ++i)
          bits.push_back(ctx_.bool_const((name + "_b" + std::to_string(i)).c_str()));
        bits_.push_back(bits);
      }
    }
  }

  // Domain constraints of every d_j.
  void AddDomains(z3::solver& s) {
    for (size_t t = 0; t < terms_.size(); ++t) {
      const Term& term = terms_[t];
      if (e_ == Encoding::kLinearInteger) {
        s.add(vars_[t] >= ctx_.int_val(term.dlo) && vars_[t] <= ctx_.int_val(term.dhi));
      } else if (e_ == Encoding::kBitVector) {
        s.add(z3::sge(vars_[t], ctx_.bv_val(term.dlo, term.width)) &&
              z3::sle(vars_[t], ctx_.bv_val(term.dhi, term.width)));
      } else {
        std::vector<std::pair<int, int64_t>> lin;
        lin.reserve(static_cast<size_t>(term.width));
        for (int i = 0; i < term.width; ++i) lin.push_back({i, BitWeight(term.width, i)});
        s.add(Pb(t, lin, 1, term.dlo, true) && Pb(t, lin, 1, term.dhi, false));
      }
    }
  }

  // Constraint "row is right" (its accumulator lies in a good interval reachable from here).
  z3::expr RowRight(const SampleRow& row) {
    AccInterval reach = ReachableRange(p_, row);
    z3::expr_vector options(ctx_);
    for (const AccInterval& g : row.good) {
      if (g.hi < reach.lo || g.lo > reach.hi) continue;
      bool need_lo = g.lo > reach.lo, need_hi = g.hi < reach.hi;
      if (!need_lo && !need_hi) return ctx_.bool_val(true);
      z3::expr c = ctx_.bool_val(true);
      if (need_lo) c = c && Bound(row, g.lo - row.acc, true);
      if (need_hi) c = c && Bound(row, g.hi - row.acc, false);
      options.push_back(c);
    }
    if (options.empty()) return ctx_.bool_val(false);
    return z3::mk_or(options);
  }

  // At most `count` deltas are non-zero (the secondary objective: few changed weights).
  void AddChangeLimit(z3::solver& s, int count) {
    z3::expr_vector changed(ctx_);
    for (size_t t = 0; t < terms_.size(); ++t) {
      if (e_ == Encoding::kLinearInteger) {
        changed.push_back(vars_[t] != ctx_.int_val(0));
      } else if (e_ == Encoding::kBitVector) {
        changed.push_back(vars_[t] != ctx_.bv_val(0, terms_[t].width));
      } else {
        z3::expr_vector bits(ctx_);
        for (int i = 0; i < terms_[t].width; ++i) bits.push_back(bits_[t][i]);
        changed.push_back(z3::mk_or(bits));
      }
    }
    if (static_cast<int>(changed.size()) > count)
      s.add(z3::atmost(changed, static_cast<unsigned>(count)));
  }

  // Constraints fixing every delta to its value in `patch`.
  z3::expr FixTo(const NeuronPatch& patch) {
    z3::expr_vector parts(ctx_);
    for (size_t t = 0; t < terms_.size(); ++t) {
      int64_t d = terms_[t].index < 0 ? patch.bias - p_.bias
                                      : patch.weight[terms_[t].index] - p_.weight[terms_[t].index];
      if (e_ == Encoding::kLinearInteger) {
        parts.push_back(vars_[t] == ctx_.int_val(d));
      } else if (e_ == Encoding::kBitVector) {
        parts.push_back(vars_[t] == ctx_.bv_val(d, terms_[t].width));
      } else {
        uint64_t u = static_cast<uint64_t>(d);
        for (int i = 0; i < terms_[t].width; ++i) {
          parts.push_back(((u >> i) & 1) ? bits_[t][i] : !bits_[t][i]);
        }
      }
    }
    return parts.empty() ? ctx_.bool_val(true) : z3::mk_and(parts);
  }

  NeuronPatch Extract(const z3::model& m) const {
    NeuronPatch patch{p_.layer, p_.unit, p_.weight, p_.bias};
    for (size_t t = 0; t < terms_.size(); ++t) {
      int64_t d = 0;
      if (e_ == Encoding::kLinearInteger) {
        d = m.eval(vars_[t], true).get_numeral_int64();
      } else if (e_ == Encoding::kBitVector) {
        uint64_t u = m.eval(vars_[t], true).get_numeral_uint64();
        int w = terms_[t].width;
        d = static_cast<int64_t>(u);
        if (w < 64 && (u >> (w - 1)) & 1) d -= int64_t{1} << w;
      } else {
        for (int i = 0; i < terms_[t].width; ++i) {
          if (m.eval(bits_[t][i], true).is_true()) d += BitWeight(terms_[t].width, i);
        }
      }
      if (terms_[t].index < 0) {
        patch.bias += d;
      } else {
        patch.weight[terms_[t].index] += d;
      }
    }
    return patch;
  }

 private:
  static int64_t BitWeight(int width, int i) {
    return i == width - 1 ? -(int64_t{1} << i) : (int64_t{1} << i);
  }
  int64_t Coefficient(const SampleRow& row, const Term& t) const {
    return t.index < 0 ? 1 : row.x[t.index];
  }

  // L >= bound (is_lower) or L <= bound.
  z3::expr Bound(const SampleRow& row, int64_t bound, bool is_lower) {
    if (e_ == Encoding::kLinearInteger) {
      z3::expr_vector parts(ctx_);
      for (size_t t = 0; t < terms_.size(); ++t) {
        int64_t c = Coefficient(row, terms_[t]);
        if (c != 0) parts.push_back(ctx_.int_val(c) * vars_[t]);
      }
      z3::expr sum = parts.empty() ? ctx_.int_val(0) : z3::sum(parts);
      return is_lower ? sum >= ctx_.int_val(bound) : sum <= ctx_.int_val(bound);
    }
    if (e_ == Encoding::kBitVector) {
      z3::expr sum = ctx_.bv_val(0, sum_width_);
      for (size_t t = 0; t < terms_.size(); ++t) {
        int64_t c = Coefficient(row, terms_[t]);
        if (c == 0) continue;
        z3::expr wide = z3::sext(vars_[t], sum_width_ - terms_[t].width);
        sum = sum + (c == 1 ? wide : wide * ctx_.bv_val(c, sum_width_));
      }
      z3::expr b = ctx_.bv_val(bound, sum_width_);
      return is_lower ? z3::sge(sum, b) : z3::sle(sum, b);
    }
    z3::expr_vector lits(ctx_);
    std::vector<int64_t> coeffs;
    for (size_t t = 0; t < terms_.size(); ++t) {
      int64_t c = Coefficient(row, terms_[t]);
      if (c == 0) continue;
      for (int i = 0; i < terms_[t].width; ++i) {
        lits.push_back(bits_[t][i]);
        coeffs.push_back(c * BitWeight(terms_[t].width, i));
      }
    }
    return PbRaw(lits, coeffs, bound, is_lower);
  }

  z3::expr Pb(size_t t, const std::vector<std::pair<int, int64_t>>& lin, int64_t scale,
              int64_t bound, bool is_lower) {
    z3::expr_vector lits(ctx_);
    std::vector<int64_t> coeffs;
    for (auto [i, w] : lin) {
      lits.push_back(bits_[t][i]);
      coeffs.push_back(w * scale);
    }
    return PbRaw(lits, coeffs, bound, is_lower);
  }

  // sum c_i l_i >= bound (is_lower) or <= bound, with negative c_i moved onto !l_i.
  z3::expr PbRaw(const z3::expr_vector& lits, const std::vector<int64_t>& coeffs, int64_t bound,
                 bool is_lower) {
    z3::expr_vector norm(ctx_);
    std::vector<int> cs;
    int64_t total = 0;
    for (unsigned i = 0; i < lits.size(); ++i) {
      int64_t c = coeffs[i];
      if (c < 0) {  // c l = c - c !l
        bound -= c;
        norm.push_back(!lits[i]);
        c = -c;
      } else {
        norm.push_back(lits[i]);
      }
      total += c;
      if (c > INT32_MAX) throw InternalError("pseudo-Boolean coefficient exceeds 2^31");
      cs.push_back(static_cast<int>(c));
    }
    if (is_lower) {
      if (bound <= 0) return ctx_.bool_val(true);
      if (bound > total) return ctx_.bool_val(false);
      return z3::pbge(norm, cs.data(), static_cast<int>(bound));
    }
    if (bound < 0) return ctx_.bool_val(false);
    if (bound >= total) return ctx_.bool_val(true);
    return z3::pble(norm, cs.data(), static_cast<int>(bound));
  }

  z3::context& ctx_;
  const NeuronRepairProblem& p_;
  Encoding e_;
  std::vector<Term> terms_;
  std::vector<z3::expr> vars_;
  std::vector<z3::expr_vector> bits_;
  int sum_width_ = 32;
};

}  // namespace qrepair::encoding
