// The C99 helpers of exported headers. Each is the C twin of one piece of the reference pass;
// tests/c_header_export_test.cc compiles them and checks them bit for bit against it.
#include "export/c_header_runtime.h"

namespace qrepair {

namespace {

// "$P" is replaced by the prefix; "$T"/"$S" by a weight type and its short name.
constexpr const char* kCommonHead = R"C(
/* ---- Integer semantics: qrepair's include/qrepair/quant/integer_ops.h, bit for bit ---- */

/* How a linear layer's accumulators become output codes. y = sat(Requantize(acc, m, shift) +
   out_zp), with ReLU applied to acc first, or LeakyReLU's own multiplier for acc < 0. The
   accumulator takes the input codes minus in_zp. */
typedef struct {
  const int32_t* m;         /* per unit: multiplier mantissa in [2^30, 2^31), or 0 */
  const uint8_t* shift;     /* per unit: 0..62; the real multiplier is m * 2^-shift */
  const int32_t* m_neg;     /* LeakyReLU, acc < 0: mantissas (else 0) */
  const uint8_t* shift_neg;
  int activation;           /* 0: none, 1: ReLU, 2: LeakyReLU */
  int64_t lo, hi;           /* output code range (saturation) */
  int64_t in_zp, out_zp;    /* zero points: real = scale * (code - zp) */
} $P_requant_t;

/* Convolution and pooling geometry (CHW order, no batch). */
typedef struct {
  int in_c, in_h, in_w, out_c, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
} $P_geometry_t;

)C";

// The requantization of the exact modes; $TIE_REQ says when a tie rounds the magnitude up.
constexpr const char* kRequantizeExact =
    R"C(/* $ROUND(acc * m / 2^shift), exact. The 95-bit product does not fit in int64 once
   |acc| >= 2^32, so it is formed as two 64-bit words: with unsigned __int128 where the
   compiler has it (define QREPAIR_NO_INT128 to force the fallback), else by splitting |acc|
   into 32-bit halves. $SYMMETRY
   The exporter checks |acc * m / 2^shift| < 2^62 for every reachable acc. */
static inline int64_t $P_requantize(int64_t acc, int32_t m, int shift) {
  uint64_t mag = acc < 0 ? (uint64_t)0 - (uint64_t)acc : (uint64_t)acc;
  uint64_t mul = (uint64_t)(uint32_t)m;
  uint64_t lo, hi, q;
#if defined(__SIZEOF_INT128__) && !defined(QREPAIR_NO_INT128)
  __extension__ typedef unsigned __int128 $P_uint128_t;
  $P_uint128_t product = ($P_uint128_t)mag * mul;
  lo = (uint64_t)product;
  hi = (uint64_t)(product >> 64);
#else
  uint64_t p_low = (mag & 0xFFFFFFFFu) * mul; /* < 2^63 */
  uint64_t p_high = (mag >> 32) * mul;        /* < 2^63 */
  lo = p_low + (p_high << 32);
  hi = (p_high >> 32) + (lo < p_low ? 1u : 0u);
#endif
  if (shift == 0) {
    q = lo;
  } else {
    uint64_t rem = lo & (((uint64_t)1 << shift) - 1u);
    uint64_t half = (uint64_t)1 << (shift - 1);
    q = (lo >> shift) | (hi << (64 - shift));
    if (rem > half || (rem == half && $TIE_REQ)) q += 1u;
  }
  return acc < 0 ? -(int64_t)q : (int64_t)q;
}

)C";

// TFLite's MultiplyByQuantizedMultiplier with gemmlowp's roundings (integer_ops.h states them).
constexpr const char* kRequantizeTflite =
    R"C(/* TFLite's MultiplyByQuantizedMultiplier: gemmlowp's SaturatingRoundingDoublingHighMul, then
   its RoundingDivideByPOT (half away from zero), on the int64 accumulator saturated to int32;
   the left shift of a multiplier >= 1 saturates too. Negative values are never shifted right
   (implementation-defined in C99): floors are formed on magnitudes. */
static inline int64_t $P_sat32(int64_t v) {
  return v < INT32_MIN ? INT32_MIN : (v > INT32_MAX ? INT32_MAX : v);
}

static inline int64_t $P_requantize(int64_t acc, int32_t m, int shift) {
  int exponent = 31 - shift;
  int left = exponent > 0 ? exponent : 0, right = exponent > 0 ? 0 : -exponent;
  int64_t a = $P_sat32($P_sat32(acc) * ((int64_t)1 << left)); /* |.| <= 2^62 before */
  int64_t ab = a * m, nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
  int64_t h = (a == INT32_MIN && m == INT32_MIN) ? INT32_MAX : (ab + nudge) / ((int64_t)1 << 31);
  int64_t mask = ((int64_t)1 << right) - 1;
  int64_t floor_q = h >= 0 ? h >> right : -((-h + mask) >> right);
  int64_t rem = h - floor_q * ((int64_t)1 << right); /* h & mask, in [0, 2^right) */
  return floor_q + (rem > (mask >> 1) + (h < 0 ? 1 : 0) ? 1 : 0);
}

)C";

constexpr const char* kCommonTail = R"C(/* $DIV_ROUND(sum / count), count > 0. */
static inline int64_t $P_rounding_divide(int64_t sum, int64_t count) {
  int64_t q = sum / count;
  int64_t r = sum % count;
  if (r < 0) { /* make q the floor */
    q -= 1;
    r += count;
  }
  if (2 * r > count || (2 * r == count && $TIE_DIV)) q += 1;
  return q;
}

static inline int32_t $P_requant_unit(const $P_requant_t* r, int unit, int64_t acc) {
  int64_t v;
  if (r->activation == 1) {
    v = $P_requantize(acc > 0 ? acc : 0, r->m[unit], r->shift[unit]);
  } else if (r->activation == 2 && acc < 0) {
    v = $P_requantize(acc, r->m_neg[unit], r->shift_neg[unit]);
  } else {
    v = $P_requantize(acc, r->m[unit], r->shift[unit]);
  }
  v += r->out_zp;
  if (v < r->lo) v = r->lo;
  if (v > r->hi) v = r->hi;
  return (int32_t)v;
}

/* Max or average pooling on codes. Cells outside the input never win a max and are not
   counted in an average (count_include_pad = 0). $POOL_DOC */
static inline void $P_pool(const int32_t* x, int32_t* y, const $P_geometry_t* g, int is_max,
                           int64_t zp) {
  int c, oh, ow, h, w;
  int64_t center = $POOL_CENTER;
  for (c = 0; c < g->in_c; ++c) {
    for (oh = 0; oh < g->out_h; ++oh) {
      for (ow = 0; ow < g->out_w; ++ow) {
        int h0 = oh * g->stride_h - g->pad_top, w0 = ow * g->stride_w - g->pad_left;
        int h1 = h0 + g->kernel_h, w1 = w0 + g->kernel_w;
        int64_t acc = is_max ? INT64_MIN : 0;
        if (h0 < 0) h0 = 0;
        if (w0 < 0) w0 = 0;
        if (h1 > g->in_h) h1 = g->in_h;
        if (w1 > g->in_w) w1 = g->in_w;
        for (h = h0; h < h1; ++h) {
          for (w = w0; w < w1; ++w) {
            int64_t v = x[((long)c * g->in_h + h) * g->in_w + w];
            if (is_max) {
              if (v > acc) acc = v;
            } else {
              acc += v;
            }
          }
        }
        if (!is_max) {
          int64_t count = (int64_t)(h1 - h0) * (w1 - w0);
          acc = center + $P_rounding_divide(acc - center * count, count);
        }
        y[((long)c * g->out_h + oh) * g->out_w + ow] = (int32_t)acc;
      }
    }
  }
}

/* max(real, 0): the code of real 0 is the zero point. */
static inline void $P_relu(const int32_t* x, int32_t* y, long n, int32_t zp) {
  long i;
  for (i = 0; i < n; ++i) y[i] = x[i] > zp ? x[i] : zp;
}

/* Top-1: the lowest index wins ties. */
static inline int $P_argmax(const int32_t* v, int n) {
  int i, best = 0;
  for (i = 1; i < n; ++i) {
    if (v[i] > v[best]) best = i;
  }
  return best;
}

/* $DIV_ROUND(d) saturated to [lo, hi]; rounding and saturation commute because the
   bounds are integers. Used only by the float input quantization. */
static inline int32_t $P_round_code(double d, int64_t lo, int64_t hi) {
  double f;
  if (!(d > (double)lo)) return (int32_t)lo;
  if (d >= (double)hi) return (int32_t)hi;
  f = (double)(int64_t)d; /* toward zero */
  if (f > d) f -= 1.0;    /* floor */
  if (d - f > 0.5 || (d - f == 0.5 && $TIE_REAL)) f += 1.0;
  return (int32_t)f;
}
)C";

constexpr const char* kTyped = R"C(
/* Dense layer, $T weights (row-major, n_out x n_in): acc = b[u] + sum_j w[u][j] x[j]. */
static inline void $P_dense_$S(const int32_t* x, int32_t* y, const $T* w, const int32_t* b,
                               long n_in, int n_out, const $P_requant_t* r) {
  int u;
  long j;
  for (u = 0; u < n_out; ++u) {
    const $T* row = w + (long)u * n_in;
    int64_t acc = b[u];
    for (j = 0; j < n_in; ++j) acc += (int64_t)row[j] * (x[j] - r->in_zp);
    y[u] = $P_requant_unit(r, u, acc);
  }
}

/* 2-D convolution, $T weights [out_c][in_c][kernel_h][kernel_w]; zero padding. */
static inline void $P_conv_$S(const int32_t* x, int32_t* y, const $T* w, const int32_t* b,
                              const $P_geometry_t* g, const $P_requant_t* r) {
  int o, oh, ow, c, kh, kw;
  for (o = 0; o < g->out_c; ++o) {
    for (oh = 0; oh < g->out_h; ++oh) {
      for (ow = 0; ow < g->out_w; ++ow) {
        int64_t acc = b[o];
        for (c = 0; c < g->in_c; ++c) {
          for (kh = 0; kh < g->kernel_h; ++kh) {
            int ih = oh * g->stride_h - g->pad_top + kh;
            if (ih < 0 || ih >= g->in_h) continue;
            for (kw = 0; kw < g->kernel_w; ++kw) {
              int iw = ow * g->stride_w - g->pad_left + kw;
              if (iw < 0 || iw >= g->in_w) continue;
              acc += (int64_t)w[(((long)o * g->in_c + c) * g->kernel_h + kh) * g->kernel_w + kw] *
                     (x[((long)c * g->in_h + ih) * g->in_w + iw] - r->in_zp);
            }
          }
        }
        y[((long)o * g->out_h + oh) * g->out_w + ow] = $P_requant_unit(r, o, acc);
      }
    }
  }
}
)C";

void ReplaceAll(std::string& text, const std::string& from, const std::string& to) {
  for (size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
}

// The C spelling of one rounding mode's tie rules (integer_ops.h's RoundsUp).
struct ModeText {
  const char* round;      // the requantization's rounding, in comments
  const char* symmetry;   // why rounding the magnitude is right
  const char* tie_req;    // when a tie of the requantized magnitude q rounds it up
  const char* div_round;  // the division's and the input coding's rounding, in comments
  const char* tie_div;    // when a tie of sum / count rounds the floor q up
  const char* tie_real;   // when a tie of d rounds its floor f up
};

ModeText TextOf(RoundingMode mode) {
  switch (mode) {
    case RoundingMode::kHalfAway:
    case RoundingMode::kTflite:  // its division and input coding; requantization has its own
      return {"round_half_away",
              "Round half away from zero is odd-symmetric, so the magnitude is rounded\n"
              "   and the sign put back.",
              "1",
              "round_half_away",
              "sum > 0",
              "d > 0"};
    case RoundingMode::kHalfUp:
      return {"round_half_up",
              "floor(v + 1/2) rounds the magnitude half up for v >= 0 and half down for\n"
              "   v < 0, so a tie of the magnitude rounds up only for acc >= 0.",
              "acc >= 0",
              "round_half_up",
              "1",
              "1"};
    default:
      return {"round_half_even",
              "Round half to even is odd-symmetric, so the magnitude is rounded and the\n"
              "   sign put back: the same value as the reference's floor-based rounding of the "
              "signed product.",
              "(q & 1u) != 0",
              "round_half_even",
              "(q & 1) != 0",
              "((int64_t)f & 1) != 0"};
  }
}

}  // namespace

std::string CHeaderRuntime(const std::string& prefix, const std::vector<std::string>& weight_types,
                           RoundingMode mode) {
  const ModeText text = TextOf(mode);
  std::string out = kCommonHead;
  out += mode == RoundingMode::kTflite ? kRequantizeTflite : kRequantizeExact;
  out += kCommonTail;
  ReplaceAll(out, "$ROUND", text.round);
  ReplaceAll(out, "$SYMMETRY", text.symmetry);
  ReplaceAll(out, "$TIE_REQ", text.tie_req);
  ReplaceAll(out, "$DIV_ROUND", text.div_round);
  ReplaceAll(out, "$TIE_DIV", text.tie_div);
  ReplaceAll(out, "$TIE_REAL", text.tie_real);
  const bool tflite = mode == RoundingMode::kTflite;
  ReplaceAll(out, "$POOL_DOC",
             tflite ? "TFLite averages the codes themselves."
                    : "The average is of the real values:\n   zp + round(sum(code - zp) / count).");
  ReplaceAll(out, "$POOL_CENTER", tflite ? "0;\n  (void)zp" : "zp");
  for (const std::string& type : weight_types) {
    std::string typed = kTyped;
    std::string short_name = type.substr(0, type.size() - 2);  // "int8_t" -> "int8"
    ReplaceAll(typed, "$T", type);
    ReplaceAll(typed, "$S", short_name);
    out += typed;
  }
  ReplaceAll(out, "$P", prefix);
  return out;
}

}  // namespace qrepair
