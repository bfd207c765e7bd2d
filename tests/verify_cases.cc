// Random networks, boxes and properties for the verifier's tests, and the enumeration oracle.
#include "verify_cases.h"

#include <algorithm>
#include <cmath>

namespace qrepair::testing {

namespace {

int Uniform(std::mt19937_64& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

double Real(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

double LogitScale(const QuantizedNetwork& q) {
  double s = q.layers[q.LogitLayer()].output.scale;
  return q.decision == Decision::kArgmin ? -s : s;
}

}  // namespace

QuantizedNetwork MakeRandomIntegerNetwork(std::mt19937_64& rng, const NetworkShape& shape) {
  QuantizedNetwork q;
  q.name = "random";
  const int inputs = Uniform(rng, shape.min_inputs, shape.max_inputs);
  q.input_shape = Shape{inputs, 1, 1};
  q.input.bits = Uniform(rng, 2, 8);
  q.input.is_signed = rng() % 2 == 0;
  q.input.scale = std::ldexp(Real(rng, 1, 2), -Uniform(rng, 0, 6));
  // A third of the networks have dyadic scales with two fraction bits (fixed-point designs):
  // their multipliers make exact ties common, where the rounding modes differ.
  const bool dyadic = rng() % 3 == 0;
  auto mantissa = [&] { return dyadic ? 1 + Uniform(rng, 0, 3) / 4.0 : Real(rng, 1, 2); };
  if (dyadic) q.input.scale = std::ldexp(1.0, -Uniform(rng, 0, 6));
  // Every semantics of the reference pass: the four rounding modes, symmetric or asymmetric
  // activation codes (a random zero point in the code's range), int32 or requantized logits.
  const RoundingMode modes[4] = {RoundingMode::kHalfEven, RoundingMode::kHalfAway,
                                 RoundingMode::kHalfUp, RoundingMode::kTflite};
  q.rounding = modes[rng() % 4];
  const bool asymmetric = shape.asymmetric && rng() % 2 == 0;
  auto draw_zero_point = [&](ActivationCode& code) {
    if (asymmetric)
      code.zero_point = Uniform(rng, static_cast<int>(code.Min()), static_cast<int>(code.Max()));
  };
  draw_zero_point(q.input);
  // The decision is a fact of the quantized network (the config keeps the recipe's record).
  q.decision = rng() % 3 == 0 ? Decision::kArgmin : Decision::kArgmax;
  q.config.decision = q.decision;
  const int hidden = Uniform(rng, shape.min_hidden, shape.max_hidden);
  ActivationCode in = q.input;
  Shape in_shape = q.input_shape;
  for (int l = 0; l <= hidden; ++l) {
    const bool last = l == hidden;
    QuantLayer layer;
    layer.kind = LayerKind::kDense;
    layer.name = "dense" + std::to_string(l);
    const int units = last ? Uniform(rng, 2, 4) : Uniform(rng, 2, shape.max_units);
    layer.input_shape = in_shape;
    layer.output_shape = Shape{units, 1, 1};
    layer.activation = !last && rng() % 4 != 0 ? QActivation::kRelu : QActivation::kNone;
    layer.weight_bits = Uniform(rng, 2, 8);
    layer.granularity = rng() % 2 == 0 ? Granularity::kPerTensor : Granularity::kPerChannel;
    const int scales = layer.granularity == Granularity::kPerTensor ? 1 : units;
    for (int u = 0; u < scales; ++u) layer.weight_scales.push_back(std::ldexp(mantissa(), -6));
    const int64_t fan_in = in_shape.Size();
    for (int64_t i = 0; i < units * fan_in; ++i) {
      layer.weights_q.push_back(static_cast<int32_t>(
          Uniform(rng, static_cast<int>(layer.WeightMin()), static_cast<int>(layer.WeightMax()))));
    }
    layer.input = in;
    layer.rounding = q.rounding;
    const bool int32_logits = last && !(shape.small_logits && rng() % 2 == 0);
    if (int32_logits) {
      layer.output.bits = 32;
      layer.output.is_signed = true;
      layer.output.scale =
          *std::min_element(layer.weight_scales.begin(), layer.weight_scales.end()) * in.scale;
    } else {
      layer.output.bits = Uniform(rng, 2, 8);
      layer.output.is_signed = asymmetric ? rng() % 2 == 0 : layer.activation == QActivation::kNone;
      draw_zero_point(layer.output);
      // M = s_w s_in / s_out around the fan-in's reciprocal, so that codes use their range and
      // sometimes saturate.
      double spread = std::max<double>(1, fan_in * std::ldexp(1.0, layer.weight_bits - 2));
      if (dyadic) spread = std::exp2(std::ceil(std::log2(spread)));
      const double m =
          std::ldexp(mantissa(), -Uniform(rng, 0, 4)) / spread * std::ldexp(1.0, layer.output.bits);
      layer.output.scale = layer.weight_scales[0] * in.scale / m;
    }
    // Biases around the accumulators' spread.
    const int64_t spread = std::max<int64_t>(
        1,
        static_cast<int64_t>(
            std::sqrt(static_cast<double>(fan_in)) * std::ldexp(1.0, layer.weight_bits - 1) *
            static_cast<double>(std::max(in.zero_point - in.Min(), in.Max() - in.zero_point)) / 2));
    for (int u = 0; u < units; ++u)
      layer.bias_q.push_back(std::uniform_int_distribution<int64_t>(-spread, spread)(rng));
    layer.UpdateMultipliers();
    in = layer.output;
    in_shape = layer.output_shape;
    q.layers.push_back(std::move(layer));
  }
  return q;
}

InputBox MakeRandomBox(std::mt19937_64& rng, const QuantizedNetwork& q, double max_points) {
  const int n = static_cast<int>(q.input_shape.Size());
  InputBox box;
  double budget = max_points;
  for (int i = 0; i < n; ++i) {
    const double share = std::pow(budget, 1.0 / (n - i));
    const int64_t width =
        std::max<int64_t>(1, std::min<int64_t>(static_cast<int64_t>(Real(rng, 1, share + 1)),
                                               q.input.Max() - q.input.Min() + 1));
    budget /= static_cast<double>(width);
    int64_t lo =
        std::uniform_int_distribution<int64_t>(q.input.Min() - 1, q.input.Max() - width + 2)(rng);
    const double s = q.input.scale;
    const double zp = static_cast<double>(q.input.zero_point);  // real = s (code - zp)
    const float lower =
        static_cast<float>((static_cast<double>(lo) - zp + Real(rng, -0.45, 0.45)) * s);
    const float upper =
        static_cast<float>((static_cast<double>(lo + width - 1) - zp + Real(rng, -0.45, 0.45)) * s);
    box.lower.emplace_back(static_cast<double>(std::min(lower, upper)));
    box.upper.emplace_back(static_cast<double>(std::max(lower, upper)));
  }
  return box;
}

std::vector<mpq_class> ExactOutputs(const QuantizedNetwork& q, const std::vector<int64_t>& logits) {
  const mpq_class s(LogitScale(q));
  const int64_t zp = q.layers[q.LogitLayer()].output.zero_point;
  std::vector<mpq_class> y;
  for (int64_t v : logits) y.push_back(s * mpq_class(static_cast<long>(v - zp)));
  return y;
}

bool ClauseHoldsExactly(const OutputClause& clause, const std::vector<mpq_class>& y) {
  for (const OutputConstraint& c : clause.constraints) {
    mpq_class sum = 0;
    for (size_t j = 0; j < y.size(); ++j) sum += c.coefficients[j] * y[j];
    if (c.strict ? !(sum < c.bound) : !(sum <= c.bound)) return false;
  }
  return true;
}

namespace {

std::vector<std::vector<int64_t>> BoxCodes(const QuantizedNetwork& q, const InputBox& box) {
  const int n = static_cast<int>(q.input_shape.Size());
  FloatBatch ends(n, 2);
  for (int i = 0; i < n; ++i) {
    ends(i, 0) = static_cast<float>(box.lower[i].get_d());  // exact: the ends are float32 values
    ends(i, 1) = static_cast<float>(box.upper[i].get_d());
  }
  const CodeBatch c = QuantizeInput(q, ends);
  std::vector<std::vector<int64_t>> out(2, std::vector<int64_t>(n));
  for (int i = 0; i < n; ++i) {
    out[0][i] = c(i, 0);
    out[1][i] = c(i, 1);
  }
  return out;
}

// Every code point of [lo, hi], as columns.
CodeBatch AllPoints(const std::vector<int64_t>& lo, const std::vector<int64_t>& hi) {
  const size_t n = lo.size();
  int64_t count = 1;
  for (size_t i = 0; i < n; ++i) count *= hi[i] - lo[i] + 1;
  CodeBatch points(n, count);
  std::vector<int64_t> p = lo;
  for (int64_t k = 0; k < count; ++k) {
    for (size_t i = 0; i < n; ++i) points(i, k) = static_cast<int32_t>(p[i]);
    for (size_t i = 0; i < n; ++i) {
      if (++p[i] <= hi[i]) break;
      p[i] = lo[i];
    }
  }
  return points;
}

}  // namespace

Property MakeRandomProperty(std::mt19937_64& rng, const QuantizedNetwork& q, int max_regions,
                            double max_points) {
  Property p;
  p.source = "random.vnnlib";
  p.name = "random";
  p.num_inputs = static_cast<int>(q.input_shape.Size());
  p.num_outputs = q.NumClasses();
  const int regions = Uniform(rng, 1, max_regions);
  for (int r = 0; r < regions; ++r) {
    UnsafeRegion region;
    region.box = MakeRandomBox(rng, q, max_points / regions);
    std::vector<std::vector<int64_t>> ends = BoxCodes(q, region.box);
    const int clauses = Uniform(rng, 1, 3);
    for (int c = 0; c < clauses; ++c) {
      // Outputs at a random point of the box anchor the bounds.
      std::vector<int64_t> point(p.num_inputs);
      CodeBatch x(p.num_inputs, 1);
      for (int i = 0; i < p.num_inputs; ++i) {
        x(i, 0) = static_cast<int32_t>(
            std::uniform_int_distribution<int64_t>(ends[0][i], ends[1][i])(rng));
      }
      const CodeBatch logits = ForwardInteger(q, x);
      std::vector<int64_t> y_codes(logits.rows());
      for (Eigen::Index j = 0; j < logits.rows(); ++j) y_codes[j] = logits(j, 0);
      const std::vector<mpq_class> y = ExactOutputs(q, y_codes);
      OutputClause clause;
      const int constraints = Uniform(rng, 1, 3);
      for (int k = 0; k < constraints; ++k) {
        OutputConstraint oc;
        mpq_class value = 0;
        for (int j = 0; j < p.num_outputs; ++j) {
          mpq_class coefficient(Uniform(rng, -2, 2), rng() % 4 == 0 ? 3 : 1);
          coefficient.canonicalize();
          oc.coefficients.push_back(coefficient);
          value += coefficient * y[j];
        }
        const mpq_class unit(std::fabs(LogitScale(q)));
        oc.bound = value + unit * mpq_class(Uniform(rng, -3, 3), Uniform(rng, 1, 2));
        oc.strict = rng() % 2 == 0;
        clause.constraints.push_back(std::move(oc));
      }
      region.clauses.push_back(std::move(clause));
    }
    p.regions.push_back(std::move(region));
  }
  return p;
}

OracleAnswer EnumerateProperty(const QuantizedNetwork& q, const Property& p) {
  OracleAnswer answer;
  for (const UnsafeRegion& region : p.regions) {
    bool empty = false;
    for (size_t i = 0; i < region.box.lower.size(); ++i)
      empty = empty || region.box.lower[i] > region.box.upper[i];
    if (empty) continue;
    std::vector<std::vector<int64_t>> ends = BoxCodes(q, region.box);
    const CodeBatch points = AllPoints(ends[0], ends[1]);
    const CodeBatch logits = ForwardInteger(q, points);
    answer.points += points.cols();
    for (Eigen::Index s = 0; s < points.cols(); ++s) {
      std::vector<int64_t> y_codes(logits.rows());
      for (Eigen::Index j = 0; j < logits.rows(); ++j) y_codes[j] = logits(j, s);
      const std::vector<mpq_class> y = ExactOutputs(q, y_codes);
      for (const OutputClause& clause : region.clauses) {
        if (ClauseHoldsExactly(clause, y)) {
          answer.violated = true;
          return answer;
        }
      }
    }
  }
  return answer;
}

}  // namespace qrepair::testing
