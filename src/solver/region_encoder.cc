// The verifier's Z3 leaf (region_encoder.h): a box of input codes, the network and a
// disjunction of clauses, encoded exactly in linear integer arithmetic.
//
// Variables: x^0_i in [lo_i, hi_i] (the input codes). Row r of layer k, when its code is not
// fixed by the bounds (stable rows are constants), and its code range is at most
// RegionQuery::max_thresholds wide: f is non-decreasing, so with T_k the least accumulator whose
// code is >= k (found by binary search over the reference's RequantizeUnit),
//   acc = sum_j W_rj x^{k-1}_j + b_r,   x^k_r = code_lo + sum_{k = code_lo+1..code_hi} [acc >= T_k]
// (exact for every rounding mode; Z3's arithmetic handles these far better than divisions by
// 2^shift with 31-bit multipliers, which timed out on 3-input networks). Wider rows (int32 logits):
//   acc = sum_j W_rj x^{k-1}_j + b_r              acc in [acc_lo, acc_hi] (the propagated bounds)
//   v   = acc | ite(acc >= 0, acc, 0) (ReLU)      the case split is dropped when the bounds decide
//   requantization q = round(v m / 2^s) in the layer's mode (integer_ops.h), with fresh integers
//         v m = 2^s f + t, 0 <= t < 2^s;  f = 2 h + p, p in {0, 1}
//         q = f + [t > 2^(s-1) or (t = 2^(s-1) and tie-up)]      (q = v m when s = 0)
//         tie-up: p = 1 (half-even), true (half-up), f >= 0 (half-away)
//   tflite (gemmlowp, integer_ops.h's TfliteRequantize), e = 31 - s, l = max(e, 0), r = max(-e, 0):
//         x = sat32(v), x' = sat32(x 2^l) (each ite only when the bounds reach INT32's ends),
//         x' m + 2^30 = 2^31 h + t, 0 <= t < 2^31 (h: the doubling high multiply),
//         h = 2^r f + t', 0 <= t' < 2^r, q = f + [t' > 2^(r-1) or (t' = 2^(r-1) and f >= 0)]
//   LeakyReLU: ite(acc >= 0, q(acc; m), q(acc; m_neg))
//   x^k_r = ite(q + z < min, min, ite(q + z > max, max, q + z))   x^k_r in [code_lo, code_hi]
//   (z the output zero point; a standalone ReLU is max(acc, 0) + z on acc = x - z)
// The unsafe outputs: OR over clauses of AND over constraints sum_j a_j x^K_j <= bound.
// A model is an input code point; the caller confirms it with the reference pass. The
// requantization is the one place here that follows integer_ops.h's rounding: a new rounding
// mode changes the q constraints only.
#include "solver/region_encoder.h"

#include <z3++.h>

#include <sstream>

#include "qrepair/error.h"
#include "qrepair/quant/integer_ops.h"

namespace qrepair {

namespace {

z3::expr Big(z3::context& ctx, const mpz_class& v) { return ctx.int_val(v.get_str().c_str()); }

class RegionEncoder {
 public:
  RegionEncoder(z3::context& ctx, z3::solver& s) : ctx_(ctx), s_(s) {}

  z3::expr Fresh(const char* prefix, int64_t lo, int64_t hi) {
    z3::expr v = ctx_.int_const((std::string(prefix) + std::to_string(count_++)).c_str());
    s_.add(v >= ctx_.int_val(lo) && v <= ctx_.int_val(hi));
    return v;
  }

  // round(value / 2^shift) in an exact mode (kTflite: half away from zero, its division).
  z3::expr RoundShift(const z3::expr& value, int shift, RoundingMode mode) {
    if (shift == 0) return value;
    const z3::expr dd = ctx_.int_val(int64_t{1} << shift);
    const z3::expr half = ctx_.int_val(int64_t{1} << (shift - 1));
    z3::expr fl = ctx_.int_const(("f" + std::to_string(count_)).c_str());
    z3::expr t = ctx_.int_const(("t" + std::to_string(count_)).c_str());
    s_.add(value == dd * fl + t && t >= 0 && t < dd);
    z3::expr tie_up = ctx_.bool_val(true);  // half-up
    if (mode == RoundingMode::kHalfEven) {
      z3::expr h = ctx_.int_const(("h" + std::to_string(count_)).c_str());
      z3::expr p = ctx_.int_const(("p" + std::to_string(count_)).c_str());
      s_.add(fl == 2 * h + p && p >= 0 && p <= 1);
      tie_up = p == 1;
    } else if (mode !=
               RoundingMode::kHalfUp) {  // half away from zero: a tie is positive iff f >= 0
      tie_up = fl >= 0;
    }
    ++count_;
    return fl + z3::ite(t > half || (t == half && tie_up), ctx_.int_val(1), ctx_.int_val(0));
  }

  // sat_int32(v); each ite only where v's range reaches past that end.
  z3::expr Saturate32(const z3::expr& v, bool may_low, bool may_high) {
    const z3::expr lo = ctx_.int_val(int64_t{INT32_MIN}), hi = ctx_.int_val(int64_t{INT32_MAX});
    z3::expr out = v;
    if (may_high) out = z3::ite(out > hi, hi, out);
    if (may_low) out = z3::ite(out < lo, lo, out);
    return out;
  }

  // Requantize(v, f, mode) for v in [v_lo, v_hi] (integer_ops.h), exactly.
  z3::expr Requantize(const z3::expr& v, int64_t v_lo, int64_t v_hi, FixedPointMultiplier f,
                      RoundingMode mode) {
    if (mode == RoundingMode::kTflite) {
      const int e = 31 - f.shift;
      const int left = e > 0 ? e : 0, right = e > 0 ? 0 : -e;
      z3::expr x = Saturate32(v, v_lo<INT32_MIN, v_hi> INT32_MAX);
      const int64_t x_lo = Saturate(v_lo, INT32_MIN, INT32_MAX);
      const int64_t x_hi = Saturate(v_hi, INT32_MIN, INT32_MAX);
      const __int128 scale = static_cast<__int128>(1) << left;
      z3::expr shifted = Saturate32(x * ctx_.int_val(int64_t{1} << left),
                                    x_lo * scale<INT32_MIN, x_hi * scale> INT32_MAX);
      // floor((x' m + 2^30) / 2^31): half up (m < 2^31 rules out gemmlowp's overflow pair)
      z3::expr high = RoundShift(shifted * ctx_.int_val(f.m), 31, RoundingMode::kHalfUp);
      return RoundShift(high, right, RoundingMode::kHalfAway);
    }
    while (f.shift > 0 && f.m % 2 == 0) {  // m / 2^shift in lowest terms: smaller constants
      f.m /= 2;
      --f.shift;
    }
    return RoundShift(v * ctx_.int_val(f.m), f.shift, mode);
  }

  z3::expr Row(const CodeLayer& layer, int r, const std::vector<z3::expr>& x, const LayerBounds& b,
               int64_t max_thresholds) {
    const CodeRelaxation& rel = b.relax[r];
    if (rel.code_lo == rel.code_hi) return ctx_.int_val(rel.code_lo);
    const int64_t acc_lo = static_cast<int64_t>(b.acc_lo[r]);
    const int64_t acc_hi = static_cast<int64_t>(b.acc_hi[r]);
    z3::expr_vector terms(ctx_);
    terms.push_back(ctx_.int_val(static_cast<int64_t>(layer.bias[r])));
    for (int j = 0; j < layer.inputs; ++j) {
      const double w = layer.weights(r, j);
      if (w != 0) terms.push_back(ctx_.int_val(static_cast<int64_t>(w)) * x[j]);
    }
    z3::expr acc = Fresh("acc", acc_lo, acc_hi);
    s_.add(acc == z3::sum(terms));
    if (rel.code_hi - rel.code_lo <= max_thresholds) {
      // y = code_lo + #{k in (code_lo, code_hi] : acc >= T_k}, T_k the least accumulator of
      // [acc_lo, acc_hi] whose code is >= k (binary search over the reference's own code).
      z3::expr_vector steps(ctx_);
      steps.push_back(ctx_.int_val(rel.code_lo));
      int64_t from = acc_lo;
      for (int64_t k = rel.code_lo + 1; k <= rel.code_hi; ++k) {
        int64_t lo = from, hi = acc_hi;
        while (lo < hi) {
          const int64_t mid = lo + (hi - lo) / 2;
          if (layer.Apply(r, mid) >= k) {
            hi = mid;
          } else {
            lo = mid + 1;
          }
        }
        from = lo;
        steps.push_back(z3::ite(acc >= ctx_.int_val(lo), ctx_.int_val(1), ctx_.int_val(0)));
      }
      z3::expr y = Fresh("y", rel.code_lo, rel.code_hi);
      s_.add(y == z3::sum(steps));
      return y;
    }
    z3::expr q(ctx_);
    const CodeFunction& f = layer.functions[r];
    const z3::expr zp = ctx_.int_val(f.zero_point);
    if (layer.source == nullptr) {  // standalone ReLU: max(acc, 0) + z, no saturation
      q = (acc_lo >= 0 ? acc : z3::ite(acc >= 0, acc, ctx_.int_val(0))) + zp;
    } else {
      const QuantLayer& src = *layer.source;
      const int u = layer.unit[r];
      const RoundingMode mode = src.rounding;
      const int64_t pos_lo = std::max<int64_t>(acc_lo, 0), pos_hi = std::max<int64_t>(acc_hi, 0);
      switch (src.activation) {
        case QActivation::kRelu:
          q = acc_lo >= 0 ? Requantize(acc, acc_lo, acc_hi, src.requant[u], mode)
                          : Requantize(z3::ite(acc >= 0, acc, ctx_.int_val(0)), pos_lo, pos_hi,
                                       src.requant[u], mode);
          break;
        case QActivation::kLeakyRelu:
          if (acc_lo >= 0) {
            q = Requantize(acc, acc_lo, acc_hi, src.requant[u], mode);
          } else if (acc_hi < 0) {
            q = Requantize(acc, acc_lo, acc_hi, src.requant_neg[u], mode);
          } else {
            q = z3::ite(acc >= 0, Requantize(acc, acc_lo, acc_hi, src.requant[u], mode),
                        Requantize(acc, acc_lo, acc_hi, src.requant_neg[u], mode));
          }
          break;
        default:
          q = Requantize(acc, acc_lo, acc_hi, src.requant[u], mode);
      }
      q = q + zp;
      const z3::expr lo = ctx_.int_val(f.out_min), hi = ctx_.int_val(f.out_max);
      q = z3::ite(q < lo, lo, z3::ite(q > hi, hi, q));
    }
    z3::expr y = Fresh("y", rel.code_lo, rel.code_hi);
    s_.add(y == q);
    return y;
  }

 private:
  z3::context& ctx_;
  z3::solver& s_;
  int count_ = 0;
};

uint64_t RlimitCount(const z3::solver& s) {
  const z3::stats st = s.statistics();
  for (unsigned i = 0; i < st.size(); ++i) {
    if (st.key(i) == "rlimit count") {
      return st.is_uint(i) ? st.uint_value(i) : static_cast<uint64_t>(st.double_value(i));
    }
  }
  return 0;
}

RegionAnswer SolveHere(const RegionQuery& query, const RegionSolveOptions& o) {
  RegionAnswer out;
  z3::set_param("memory_max_size",
                static_cast<int>(std::min<uint64_t>(o.memory_limit_mb, 1u << 30)));
  z3::context ctx;
  z3::solver s(ctx);
  z3::params params(ctx);
  params.set("timeout", static_cast<unsigned>(1000 * std::max(0.05, o.time_limit_seconds)));
  if (o.work_limit > 0)
    params.set("rlimit", static_cast<unsigned>(std::min<uint64_t>(o.work_limit, UINT32_MAX)));
  s.set(params);
  RegionEncoder enc(ctx, s);
  const CodeNetwork& net = *query.net;
  std::vector<z3::expr> input, x;
  for (int i = 0; i < net.inputs; ++i) {
    input.push_back(enc.Fresh("x", static_cast<int64_t>(query.box.lo[i]),
                              static_cast<int64_t>(query.box.hi[i])));
  }
  x = input;
  for (size_t k = 0; k < net.layers.size(); ++k) {
    std::vector<z3::expr> next;
    next.reserve(static_cast<size_t>(net.layers[k].outputs));
    for (int r = 0; r < net.layers[k].outputs; ++r)
      next.push_back(enc.Row(net.layers[k], r, x, (*query.bounds)[k], query.max_thresholds));
    x = std::move(next);
  }
  z3::expr_vector any(ctx);
  for (const CodeClause* clause : query.clauses) {
    z3::expr_vector all(ctx);
    for (const CodeConstraint& c : clause->constraints) {
      z3::expr_vector terms(ctx);
      terms.push_back(ctx.int_val(0));
      for (size_t j = 0; j < c.a.size(); ++j) {
        if (sgn(c.a[j]) != 0) terms.push_back(Big(ctx, c.a[j]) * x[j]);
      }
      all.push_back(z3::sum(terms) <= Big(ctx, c.bound));
    }
    any.push_back(z3::mk_and(all));
  }
  s.add(z3::mk_or(any));
  const z3::check_result r = s.check();
  out.work = RlimitCount(s);
  if (r == z3::sat) {
    out.status = SolveStatus::kSat;
    z3::model m = s.get_model();
    for (const z3::expr& v : input) out.codes.push_back(m.eval(v, true).get_numeral_int64());
  } else if (r == z3::unsat) {
    out.status = SolveStatus::kUnsat;
  } else {
    out.status = SolveStatus::kUnknown;
    out.detail = "z3: " + s.reason_unknown();
  }
  return out;
}

std::string Serialize(const RegionAnswer& a) {
  std::ostringstream s;
  s << static_cast<int>(a.status) << ' ' << a.work << ' ' << a.codes.size();
  for (int64_t c : a.codes) s << ' ' << c;
  s << '\n' << a.detail;
  return s.str();
}

bool Deserialize(const std::string& text, RegionAnswer& a) {
  std::istringstream s(text);
  int status = 0;
  size_t n = 0;
  if (!(s >> status >> a.work >> n) || status < 0 || status > 2 || n > (1u << 24)) return false;
  a.status = static_cast<SolveStatus>(status);
  a.codes.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (!(s >> a.codes[i])) return false;
  }
  std::string rest;
  std::getline(s, rest);
  std::getline(s, a.detail);
  return true;
}

}  // namespace

RegionAnswer SolveRegion(const RegionQuery& query, const RegionSolveOptions& o) {
  if (!o.isolate) return SolveHere(query, o);
  ChildLimits limits;
  limits.seconds = o.time_limit_seconds + 2.0;  // Z3's own timeout should fire first
  limits.memory_limit_mb = o.memory_limit_mb;
  limits.stop = o.stop;
  ChildLauncher& launcher = o.launcher != nullptr ? *o.launcher : DefaultChildLauncher();
  ChildProcess child = launcher.Start(
      [&] {
        try {
          return Serialize(SolveHere(query, o));
        } catch (const std::exception& e) {
          RegionAnswer fail;
          fail.detail = std::string("solver error: ") + e.what();
          return Serialize(fail);
        }
      },
      limits);
  ChildProcess::Outcome done = WaitForChild(child);
  RegionAnswer out;
  if (done.killed || !Deserialize(done.text, out)) {
    out = RegionAnswer{};
    out.detail = done.detail;
  }
  return out;
}

}  // namespace qrepair
