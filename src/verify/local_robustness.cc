// Balls around samples and the "decision changes" property (maths in local_robustness.h).
#include "qrepair/verify/local_robustness.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"

namespace qrepair {

std::optional<std::pair<double, double>> RawTypeRange(const std::string& data_path) {
  // gzread reads plain files as they are and inflates gzip ones.
  gzFile f = gzopen(data_path.c_str(), "rb");
  if (!f) return std::nullopt;
  unsigned char head[256] = {};
  const int n = gzread(f, head, sizeof(head));
  gzclose(f);
  if (n >= 4 && head[0] == 0 && head[1] == 0) {  // IDX: 00 00 <type> <ndims>
    switch (head[2]) {
      case 0x08:
        return std::make_pair(0.0, 255.0);
      case 0x09:
        return std::make_pair(-128.0, 127.0);
      case 0x0B:
        return std::make_pair(-32768.0, 32767.0);
      default:
        return std::nullopt;
    }
  }
  if (n >= 10 && head[0] == 0x93 && std::string(reinterpret_cast<char*>(head) + 1, 5) == "NUMPY") {
    const std::string header(reinterpret_cast<char*>(head), static_cast<size_t>(n));
    for (const auto& [descr, range] : {std::make_pair("u1'", std::make_pair(0.0, 255.0)),
                                       std::make_pair("i1'", std::make_pair(-128.0, 127.0)),
                                       std::make_pair("u2'", std::make_pair(0.0, 65535.0)),
                                       std::make_pair("i2'", std::make_pair(-32768.0, 32767.0))}) {
      if (header.find(std::string("'descr': '|") + descr) != std::string::npos ||
          header.find(std::string("'descr': '<") + descr) != std::string::npos ||
          header.find(std::string("'descr': '>") + descr) != std::string::npos) {
        return range;
      }
    }
  }
  return std::nullopt;
}

std::optional<double> RawFromInput(const RawInputMap& map, float x) {
  const double raw = (static_cast<double>(x) - map.offset) / map.scale;
  if (!map.integer_grid) return raw;
  // float32 rounding moves x by at most half an ulp; the integer whose image is x lies next to
  // the quotient, so checking the nearest integers finds it exactly.
  const double nearest = std::nearbyint(raw);
  for (double candidate : {nearest, nearest - 1, nearest + 1}) {
    if (map.ToInput(candidate) == x) return candidate;
  }
  return std::nullopt;
}

RawBall MakeRawBall(const RawInputMap& map, const std::vector<double>& raw, double radius) {
  RawBall ball;
  ball.lower.reserve(raw.size());
  ball.upper.reserve(raw.size());
  for (double r : raw) {
    double lo = std::max(r - radius, map.clip_lo);
    double hi = std::min(r + radius, map.clip_hi);
    if (map.integer_grid) {  // the grid points inside [lo, hi]
      lo = std::ceil(lo);
      hi = std::floor(hi);
    }
    if (lo > hi) lo = hi = std::min(std::max(r, map.clip_lo), map.clip_hi);  // r outside the clip
    ball.lower.push_back(lo);
    ball.upper.push_back(hi);
  }
  return ball;
}

InputBox InputBoxOfBall(const RawInputMap& map, const RawBall& ball) {
  if (!(map.scale > 0)) throw InternalError("InputBoxOfBall: the input scale must be positive");
  InputBox box;
  for (size_t i = 0; i < ball.lower.size(); ++i) {
    // mpq_class(double) is exact; float32 bounds are what the device can be fed.
    box.lower.emplace_back(static_cast<double>(map.ToInput(ball.lower[i])));
    box.upper.emplace_back(static_cast<double>(map.ToInput(ball.upper[i])));
  }
  return box;
}

Property DecisionChangeProperty(int num_outputs, int target, Decision decision, const InputBox& box,
                                const std::string& name) {
  if (target < 0 || target >= num_outputs) {
    throw InternalError("DecisionChangeProperty: target " + std::to_string(target) +
                        " outside 0.." + std::to_string(num_outputs - 1));
  }
  Property p;
  p.source = name;
  p.name = name;
  p.num_inputs = static_cast<int>(box.lower.size());
  p.num_outputs = num_outputs;
  UnsafeRegion region;
  region.box = box;
  // For argmax: k beats t when Y_k >= Y_t (k < t) or Y_k > Y_t (k > t), i.e. Y_t - Y_k <= 0 or
  // < 0. For argmin the advisory is the lowest: Y_k - Y_t <= 0 or < 0.
  const int sign = decision == Decision::kArgmax ? 1 : -1;
  for (int k = 0; k < num_outputs; ++k) {
    if (k == target) continue;
    OutputConstraint c;
    c.coefficients.assign(num_outputs, Rational(0));
    c.coefficients[target] = sign;
    c.coefficients[k] = -sign;
    c.bound = 0;
    c.strict = k > target;
    region.clauses.push_back(OutputClause{{c}});
  }
  p.regions.push_back(std::move(region));
  return p;
}

std::vector<int64_t> GridCodes(const QuantizedNetwork& network, const RawInputMap& map,
                               const RawBall& ball, int64_t i) {
  const int64_t n = static_cast<int64_t>(ball.lower.size());
  const auto count = static_cast<int64_t>(ball.upper[i] - ball.lower[i]) + 1;
  FloatBatch batch(n, count);
  for (int64_t k = 0; k < count; ++k) {
    for (int64_t j = 0; j < n; ++j) batch(j, k) = map.ToInput(ball.lower[j]);
    batch(i, k) = map.ToInput(ball.lower[i] + static_cast<double>(k));
  }
  const CodeBatch coded = QuantizeInput(network, batch);
  std::vector<int64_t> codes(count);
  for (int64_t k = 0; k < count; ++k) codes[k] = coded(i, k);
  return codes;
}

}  // namespace qrepair
