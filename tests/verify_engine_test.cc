// The verifier's engine against brute force: each abstract element (relaxation, intervals,
// symbolic bounds) on random layers, and whole verdicts against exhaustive enumeration of every
// input code on thousands of random small networks and properties, with a deliberately unsound
// bound that the oracle must catch.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "qrepair/error.h"
#include "solver/region_encoder.h"
#include "verify/code_network.h"
#include "verify/code_relaxation.h"
#include "verify/engine.h"
#include "verify/interval_bounds.h"
#include "verify/output_constraints.h"
#include "verify/symbolic_bounds.h"
#include "verify_cases.h"

namespace qrepair {
namespace {

using testing::EnumerateProperty;
using testing::MakeRandomIntegerNetwork;
using testing::MakeRandomProperty;

// Counts rows where some integer t in [l, u] leaves the relaxation's lines or interval.
int64_t RelaxationFailures(std::mt19937_64& rng, BoundMutation mutation, int64_t* unstable_rows) {
  int64_t failures = 0;
  for (int trial = 0; trial < 300; ++trial) {
    QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
    CodeNetwork net = BuildCodeNetwork(q, "random");
    for (const CodeLayer& layer : net.layers) {
      for (int r = 0; r < layer.outputs; ++r) {
        // Ranges around 0 and around the saturation points, narrow and wide.
        const CodeFunction& f = layer.functions[r];
        const double z = static_cast<double>(f.zero_point);
        const double centres[3] = {0, (f.out_max - z) / f.multiplier,
                                   (f.out_min - z) / f.multiplier};
        const double centre = centres[rng() % 3];
        const int64_t half = int64_t{1} << (rng() % 11);
        const int64_t l = static_cast<int64_t>(centre) - static_cast<int64_t>(rng() % (half + 1));
        const int64_t u = l + static_cast<int64_t>(rng() % (2 * half + 1));
        const CodeRelaxation x = RelaxRow(layer, r, l, u, mutation);
        *unstable_rows += x.code_lo < x.code_hi;
        bool bad = false;
        for (int64_t t = l; t <= u && !bad; ++t) {
          const double code = static_cast<double>(layer.Apply(r, t));
          const double td = static_cast<double>(t);
          bad = code < x.code_lo || code > x.code_hi || code < x.slope_lo * td + x.offset_lo ||
                code > x.slope_hi * td + x.offset_hi;
        }
        failures += bad;
      }
    }
  }
  return failures;
}

TEST(VerifyElementsTest, RelaxationEnclosesEveryCodeOfItsRange) {
  std::mt19937_64 rng(11);
  int64_t unstable = 0;
  EXPECT_EQ(RelaxationFailures(rng, BoundMutation::kNone, &unstable), 0);
  EXPECT_GT(unstable, 1000);
}

TEST(VerifyElementsTest, RelaxationWithoutTheRoundingErrorIsCaughtByBruteForce) {
  std::mt19937_64 rng(11);
  int64_t unstable = 0;
  EXPECT_GT(RelaxationFailures(rng, BoundMutation::kNoRoundingError, &unstable), 0);
}

TEST(VerifyElementsTest, RelaxationIgnoringTheZeroPointIsCaughtByBruteForce) {
  std::mt19937_64 rng(11);
  int64_t unstable = 0;
  EXPECT_GT(RelaxationFailures(rng, BoundMutation::kNoZeroPoint, &unstable), 0);
}

// TFLite's error bound exceeds 1/2 when its right shift rounds twice; the relaxation must use it.
TEST(VerifyElementsTest, TfliteDoubleRoundingNeedsMoreThanHalfACode) {
  QuantLayer q;
  q.kind = LayerKind::kDense;
  q.input_shape = q.output_shape = Shape{1, 1, 1};
  q.weights_q = {1};
  q.bias_q = {0};
  q.weight_scales = {1.0};
  q.input.bits = 16;
  q.input.is_signed = true;
  q.output = q.input;
  q.rounding = RoundingMode::kTflite;
  q.requant = {FixedPointMultiplier{(int64_t{1} << 30) + 1, 33}};  // M just above 1/8: r = 2
  EXPECT_EQ(RequantizeErrorBound(q.rounding, q.requant[0]), 0.625);
  double worst = 0;
  for (int64_t t = -4000; t <= 4000; ++t) {
    worst = std::max(worst, std::fabs(static_cast<double>(Requantize(t, q.requant[0], q.rounding)) -
                                      static_cast<double>(t) * q.requant[0].Value()));
  }
  EXPECT_GT(worst, 0.5);
  EXPECT_LE(worst, 0.625);
}

// Every reachable accumulator of every layer on a small box, by enumeration.
struct Reach {
  std::vector<Eigen::VectorXd> acc_min, acc_max;
};

Reach Enumerate(const CodeNetwork& net, const CodeBox& box) {
  Reach reach;
  for (const CodeLayer& layer : net.layers) {
    reach.acc_min.push_back(Eigen::VectorXd::Constant(layer.outputs, 1e300));
    reach.acc_max.push_back(Eigen::VectorXd::Constant(layer.outputs, -1e300));
  }
  const int n = net.inputs;
  std::vector<int64_t> p(n);
  for (int i = 0; i < n; ++i) p[i] = static_cast<int64_t>(box.lo[i]);
  while (true) {
    Eigen::VectorXd x(n);
    for (int i = 0; i < n; ++i) x[i] = static_cast<double>(p[i]);
    for (size_t k = 0; k < net.layers.size(); ++k) {
      const CodeLayer& layer = net.layers[k];
      Eigen::VectorXd acc = layer.weights * x + layer.bias;
      reach.acc_min[k] = reach.acc_min[k].cwiseMin(acc);
      reach.acc_max[k] = reach.acc_max[k].cwiseMax(acc);
      x.resize(layer.outputs);
      for (int r = 0; r < layer.outputs; ++r)
        x[r] = static_cast<double>(layer.Apply(r, static_cast<int64_t>(acc[r])));
    }
    int i = 0;
    for (; i < n; ++i) {
      if (++p[i] <= box.hi[i]) break;
      p[i] = static_cast<int64_t>(box.lo[i]);
    }
    if (i == n) break;
  }
  return reach;
}

CodeBox RandomCodeBox(std::mt19937_64& rng, const CodeNetwork& net, int64_t max_width) {
  CodeBox box;
  box.lo.resize(net.inputs);
  box.hi.resize(net.inputs);
  for (int i = 0; i < net.inputs; ++i) {
    const int64_t w =
        std::min<int64_t>(static_cast<int64_t>(rng() % max_width), net.input_max - net.input_min);
    const int64_t lo =
        net.input_min +
        static_cast<int64_t>(rng() % static_cast<uint64_t>(net.input_max - net.input_min - w + 1));
    box.lo[i] = static_cast<double>(lo);
    box.hi[i] = static_cast<double>(lo + w);
  }
  return box;
}

TEST(VerifyElementsTest, IntervalsAreExactOnTheFirstLayerAndSymbolicBoundsContainEveryValue) {
  std::mt19937_64 rng(12);
  int64_t tighter = 0, rows = 0;
  for (int trial = 0; trial < 400; ++trial) {
    QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
    CodeNetwork net = BuildCodeNetwork(q, "random");
    CodeBox box = RandomCodeBox(rng, net, 6);
    Reach reach = Enumerate(net, box);
    std::vector<LayerBounds> intervals, symbolic;
    uint64_t work = 0;
    BoundOptions interval_only;
    interval_only.symbolic = false;
    PropagateBounds(net, box, interval_only, intervals, work);
    PropagateBounds(net, box, BoundOptions{}, symbolic, work);
    EXPECT_EQ(intervals[0].acc_lo, reach.acc_min[0]) << "trial " << trial;
    EXPECT_EQ(intervals[0].acc_hi, reach.acc_max[0]) << "trial " << trial;
    for (size_t k = 0; k < net.layers.size(); ++k) {
      for (int r = 0; r < net.layers[k].outputs; ++r) {
        for (const auto* b : {&intervals, &symbolic}) {
          ASSERT_LE((*b)[k].acc_lo[r], reach.acc_min[k][r]) << "trial " << trial << " layer " << k;
          ASSERT_GE((*b)[k].acc_hi[r], reach.acc_max[k][r]) << "trial " << trial << " layer " << k;
        }
        ++rows;
        tighter += symbolic[k].acc_hi[r] - symbolic[k].acc_lo[r] <
                   intervals[k].acc_hi[r] - intervals[k].acc_lo[r];
      }
    }
    // A random objective over the logits: its bounds contain every value.
    const int outputs = net.outputs();
    RowMatrix a(1, outputs);
    for (int j = 0; j < outputs; ++j)
      a(0, j) = static_cast<double>(static_cast<int>(rng() % 7) - 3);
    Eigen::VectorXd lo, hi;
    BackSubstitute(net, symbolic, box, static_cast<int>(net.layers.size()), a,
                   Eigen::VectorXd::Zero(1), lo, hi, nullptr, work);
    std::vector<int64_t> p(net.inputs);
    for (int i = 0; i < net.inputs; ++i) p[i] = static_cast<int64_t>(box.lo[i]);
    for (int s = 0; s < 30; ++s) {
      for (int i = 0; i < net.inputs; ++i) {
        p[i] = static_cast<int64_t>(box.lo[i]) +
               static_cast<int64_t>(rng() % static_cast<uint64_t>(box.hi[i] - box.lo[i] + 1));
      }
      std::vector<int64_t> y = EvaluateCodes(net, p);
      double v = 0;
      for (int j = 0; j < outputs; ++j) v += a(0, j) * static_cast<double>(y[j]);
      ASSERT_LE(lo[0], v) << "trial " << trial;
      ASSERT_GE(hi[0], v) << "trial " << trial;
    }
  }
  EXPECT_GT(tighter, rows / 50) << "back-substitution should tighten some rows";
}

TEST(OutputConstraintsTest, NearestFloatRoundsExactlyWithTiesToEven) {
  std::mt19937_64 rng(13);
  for (int trial = 0; trial < 20000; ++trial) {
    const float f =
        std::ldexp(static_cast<float>(rng() % (1 << 24)) + 1, static_cast<int>(rng() % 80) - 60) *
        (rng() % 2 ? 1.f : -1.f);
    const float next = std::nextafter(f, f > 0 ? 1e30f : -1e30f);
    EXPECT_EQ(NearestFloat(mpq_class(f)), f);
    const mpq_class mid = (mpq_class(f) + mpq_class(next)) / 2;
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    EXPECT_EQ(NearestFloat(mid), (bits & 1) ? next : f) << "trial " << trial;
    const mpq_class tiny = (mpq_class(next) - mpq_class(f)) / 1000;
    EXPECT_EQ(NearestFloat(mid - tiny), f);
    EXPECT_EQ(NearestFloat(mid + tiny), next);
  }
  EXPECT_EQ(NearestFloat(mpq_class(1, 3)), 1.0f / 3.0f);
  EXPECT_EQ(NearestFloat(mpq_class(-1, 10)), -0.1f);
  EXPECT_EQ(NearestFloat(mpq_class(0)), 0.0f);
}

TEST(OutputConstraintsTest, IntegerFormAgreesWithExactRationals) {
  std::mt19937_64 rng(14);
  for (int trial = 0; trial < 300; ++trial) {
    QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
    CodeNetwork net = BuildCodeNetwork(q, "random");
    Property p = MakeRandomProperty(rng, q, 1, 50);
    for (const OutputClause& clause : p.regions[0].clauses) {
      for (const OutputConstraint& c : clause.constraints) {
        CodeConstraint cc = ToCodeConstraint(c, net.output_scale, net.output_zero_point);
        for (int s = 0; s < 50; ++s) {
          std::vector<int64_t> y(net.outputs());
          for (int64_t& v : y) v = static_cast<int64_t>(rng() % 2001) - 1000;
          OutputClause one;
          one.constraints.push_back(c);
          EXPECT_EQ(cc.Holds(y), testing::ClauseHoldsExactly(one, testing::ExactOutputs(q, y)));
        }
      }
    }
  }
}

// The Z3 leaf's division encoding of each rounding mode, row by row against the reference: on a
// small box, every logit's exact minimum and maximum (by enumeration) are attained and not passed.
TEST(RegionEncoderTest, DivisionEncodingAttainsExactlyTheEnumeratedExtremes) {
  std::mt19937_64 rng(31);
  int queries = 0, per_mode[4] = {0, 0, 0, 0};
  for (int trial = 0; trial < 25; ++trial) {
    QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
    CodeNetwork net = BuildCodeNetwork(q, "random");
    CodeBox box;
    box.lo.resize(net.inputs);
    box.hi.resize(net.inputs);
    for (int i = 0; i < net.inputs; ++i) {
      const int64_t lo = std::uniform_int_distribution<int64_t>(net.input_min, net.input_max)(rng);
      box.lo[i] = static_cast<double>(lo);
      box.hi[i] = static_cast<double>(std::min<int64_t>(net.input_max, lo + rng() % 3));
    }
    std::vector<int64_t> lo_y(net.outputs(), INT64_MAX), hi_y(net.outputs(), INT64_MIN);
    std::vector<int64_t> p(net.inputs);
    for (int i = 0; i < net.inputs; ++i) p[i] = static_cast<int64_t>(box.lo[i]);
    for (bool more = true; more;) {
      const std::vector<int64_t> y = EvaluateCodes(net, p);
      for (int j = 0; j < net.outputs(); ++j) {
        lo_y[j] = std::min(lo_y[j], y[j]);
        hi_y[j] = std::max(hi_y[j], y[j]);
      }
      more = false;
      for (int i = 0; i < net.inputs && !more; ++i) {
        if (++p[i] <= static_cast<int64_t>(box.hi[i])) {
          more = true;
        } else {
          p[i] = static_cast<int64_t>(box.lo[i]);
        }
      }
    }
    std::vector<LayerBounds> bounds;
    uint64_t work = 0;
    PropagateBounds(net, box, BoundOptions{}, bounds, work);
    for (int j = 0; j < net.outputs(); ++j) {
      // sign * y_j <= bound: attained at the extreme, impossible one past it.
      for (int sign : {1, -1}) {
        const int64_t extreme = sign > 0 ? lo_y[j] : -hi_y[j];
        for (int64_t past : {int64_t{0}, int64_t{1}}) {
          CodeClause clause;
          CodeConstraint c;
          c.a.assign(net.outputs(), 0);
          c.a[j] = sign;
          c.bound = mpz_class(std::to_string(extreme - past));
          c.a_double = Eigen::VectorXd::Zero(net.outputs());
          c.a_double[j] = sign;
          c.a_exact = true;
          clause.constraints.push_back(c);
          RegionQuery query;
          query.net = &net;
          query.box = box;
          query.bounds = &bounds;
          query.clauses = {&clause};
          query.max_thresholds = 0;
          RegionSolveOptions o;
          o.isolate = false;
          o.time_limit_seconds = 5;
          const RegionAnswer a = SolveRegion(query, o);
          if (a.status == SolveStatus::kUnknown) continue;
          ++queries;
          ++per_mode[static_cast<int>(q.rounding)];
          EXPECT_EQ(a.status, past ? SolveStatus::kUnsat : SolveStatus::kSat)
              << "trial " << trial << " output " << j << " mode " << RoundingModeName(q.rounding);
        }
      }
    }
  }
  for (int m = 0; m < 4; ++m) EXPECT_GT(per_mode[m], 10) << RoundingModeName(RoundingMode(m));
  EXPECT_GT(queries, 120);
}

struct OracleStats {
  int cases = 0, violated = 0, wrong = 0;
  int per_mode[4] = {0, 0, 0, 0};
  int asymmetric = 0, requantized_logits = 0;
  int64_t smt_leaves = 0, point_leaves = 0, bound_leaves = 0, smt_unknown = 0;
};

// Verifies random properties and compares with the enumeration; checks every counterexample.
OracleStats RunOracle(uint64_t seed, int cases, const EngineOptions& engine, double max_points,
                      bool expect_right, double leaf_seconds = 2, uint64_t leaf_work = 0) {
  std::mt19937_64 rng(seed);
  OracleStats stats;
  VerifyOptions options;
  options.seed = seed;
  options.leaf_time_limit_seconds = leaf_seconds;  // a leaf Z3 gives up on is split to points
  options.leaf_work_limit = leaf_work;
  for (int trial = 0; trial < cases; ++trial) {
    QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
    Property p = MakeRandomProperty(rng, q, 2, max_points);
    const testing::OracleAnswer truth = EnumerateProperty(q, p);
    const VerifyResult got = VerifyWithEngine(q, p, options, engine);
    ++stats.cases;
    ++stats.per_mode[static_cast<int>(q.rounding)];
    stats.asymmetric += q.input.zero_point != 0 || q.layers[0].output.zero_point != 0;
    stats.requantized_logits += q.layers[q.LogitLayer()].output.bits < 32;
    stats.violated += truth.violated;
    stats.smt_leaves += got.stats.leaves_smt;
    stats.smt_unknown += got.stats.smt_unknown;
    stats.point_leaves += got.stats.leaves_points;
    stats.bound_leaves += got.stats.leaves_bounds;
    const Verdict want = truth.violated ? Verdict::kViolated : Verdict::kHolds;
    if (got.verdict != want) {
      ++stats.wrong;
      if (expect_right) {
        ADD_FAILURE() << "trial " << trial << ": verify says " << VerdictName(got.verdict) << " ("
                      << got.reason << "), enumeration of " << truth.points << " points says "
                      << VerdictName(want);
      }
      continue;
    }
    if (!got.counterexample) continue;
    const Counterexample& ce = *got.counterexample;
    const UnsafeRegion& region = p.regions[ce.region];
    FloatBatch x(p.num_inputs, 1);
    for (int i = 0; i < p.num_inputs; ++i) {
      EXPECT_GE(mpq_class(ce.input[i]), region.box.lower[i]) << "trial " << trial;
      EXPECT_LE(mpq_class(ce.input[i]), region.box.upper[i]) << "trial " << trial;
      x(i, 0) = static_cast<float>(ce.input[i]);
    }
    const CodeBatch codes = QuantizeInput(q, x);
    const CodeBatch logits = ForwardInteger(q, codes);
    std::vector<int64_t> y(logits.rows());
    for (Eigen::Index j = 0; j < logits.rows(); ++j) {
      y[j] = logits(j, 0);
      EXPECT_EQ(y[j], ce.logits[j]);
    }
    for (int i = 0; i < p.num_inputs; ++i) EXPECT_EQ(codes(i, 0), ce.codes[i]);
    EXPECT_TRUE(testing::ClauseHoldsExactly(region.clauses[ce.clause], testing::ExactOutputs(q, y)))
        << "trial " << trial;
  }
  return stats;
}

TEST(VerifyOracleTest, VerdictsEqualExhaustiveEnumeration) {
  EngineOptions engine;
  engine.smt_isolate = false;
  OracleStats s = RunOracle(21, 4000, engine, 3000, true);
  EXPECT_GT(s.violated, s.cases / 5);
  EXPECT_LT(s.violated, s.cases * 4 / 5);
  EXPECT_GT(s.bound_leaves, 0);
  EXPECT_GT(s.smt_leaves, 0);
  // Every semantics is drawn often: each rounding mode, zero points, requantized logits.
  for (int m = 0; m < 4; ++m)
    EXPECT_GT(s.per_mode[m], s.cases / 6) << RoundingModeName(RoundingMode(m));
  EXPECT_GT(s.asymmetric, s.cases / 4);
  EXPECT_GT(s.requantized_logits, s.cases / 3);
}

TEST(VerifyOracleTest, VerdictsEqualEnumerationWithIntervalsOnlyAndNoSearch) {
  EngineOptions engine;
  engine.bounds.symbolic = false;
  engine.falsify = false;
  engine.smt = false;
  OracleStats s = RunOracle(22, 800, engine, 1500, true);
  EXPECT_GT(s.violated, 0);
}

TEST(VerifyOracleTest, Z3LeavesAloneDecideEveryBox) {
  EngineOptions engine;
  engine.bounds_close = false;
  engine.falsify = false;
  engine.smt_isolate = false;
  engine.smt_max_unstable = 1 << 20;
  engine.smt_min_points = 0;
  // Each leaf gets 2 M Z3 rlimit units (deterministic: the same leaves give up on every machine
  // and under sanitizers; 30 s is only a safety net). Measured: 112 of 200 root boxes decided.
  OracleStats s = RunOracle(23, 200, engine, 3000, true, 30.0, 2000000);
  EXPECT_GT(s.violated, 0);
  // Z3 decides the root box of most cases within its work; Z3 4.8.12 gives up on some (their
  // boxes are then split down to points, so the verdicts above stay exact).
  EXPECT_GE(s.smt_leaves, s.cases / 2);
}

// Every unstable row by the division encoding (the rounding modes' tie rules, tflite's doubling
// high multiply and saturations, zero points), not by the reference's thresholds.
TEST(VerifyOracleTest, Z3DivisionEncodingOfEveryModeDecidesEveryBox) {
  EngineOptions engine;
  engine.bounds_close = false;
  engine.falsify = false;
  engine.smt_isolate = false;
  engine.smt_max_unstable = 1 << 20;
  engine.smt_min_points = 0;
  engine.smt_max_thresholds = 0;
  OracleStats s = RunOracle(30, 300, engine, 400, true, 1.0);
  EXPECT_GT(s.violated, 0);
  EXPECT_GE(s.smt_leaves, s.cases / 3);  // the division encoding is slower for Z3 4.8.12
}

TEST(VerifyOracleTest, Z3LeavesInChildProcessesAtDepthLimit) {
  EngineOptions engine;
  engine.bounds_close = false;
  engine.falsify = false;
  engine.max_depth = 2;
  engine.smt_max_unstable = -1;
  OracleStats s = RunOracle(24, 15, engine, 2000, true, 0.5);
  EXPECT_GT(s.smt_leaves, 0);
}

TEST(VerifyOracleTest, PointLeavesAloneDecideEveryBox) {
  EngineOptions engine;
  engine.bounds_close = false;
  engine.falsify = false;
  engine.smt = false;
  OracleStats s = RunOracle(25, 300, engine, 200, true);
  EXPECT_GT(s.point_leaves, 0);
}

// The mutations: bounds without the rounding error, or ignoring the output zero points, are
// unsound, and the oracle sees it.
TEST(VerifyOracleTest, UnsoundBoundIgnoringTheZeroPointIsDetected) {
  EngineOptions engine;
  engine.bounds.mutation = BoundMutation::kNoZeroPoint;
  engine.falsify = false;
  engine.smt = false;
  OracleStats s = RunOracle(29, 1500, engine, 3000, false);
  EXPECT_GT(s.wrong, 0) << "the oracle could not tell an unsound bound from a sound one";
}

TEST(VerifyOracleTest, UnsoundBoundWithoutRoundingErrorIsDetected) {
  EngineOptions engine;
  engine.bounds.mutation = BoundMutation::kNoRoundingError;
  engine.falsify = false;
  engine.smt = false;
  OracleStats s = RunOracle(26, 1500, engine, 3000, false);
  EXPECT_GT(s.wrong, 0) << "the oracle could not tell an unsound bound from a sound one";
}

TEST(VerifyLimitsTest, WorkLimitAndStopGiveUnknownWithAReason) {
  std::mt19937_64 rng(27);
  int limited = 0;
  for (int trial = 0; trial < 50; ++trial) {
    QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
    Property p = MakeRandomProperty(rng, q, 1, 3000);
    VerifyOptions o;
    o.work_limit = 1;
    const VerifyResult r = VerifyProperty(q, p, o);
    if (r.verdict == Verdict::kUnknown) {
      ++limited;
      EXPECT_EQ(r.reason, "work limit");
      EXPECT_GE(r.stats.proved_fraction, 0.0);
      EXPECT_LT(r.stats.proved_fraction, 1.0);
    }
    std::atomic<bool> stop{true};
    o.work_limit = 0;
    o.stop = &stop;
    const VerifyResult s = VerifyProperty(q, p, o);
    if (s.verdict == Verdict::kUnknown) EXPECT_EQ(s.reason, "interrupted");
    EXPECT_FALSE(s.verdict == Verdict::kHolds) << "a stopped search proved nothing";
  }
  EXPECT_GT(limited, 10);
}

TEST(VerifyLimitsTest, MismatchedPropertyIsBadInput) {
  std::mt19937_64 rng(28);
  QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
  Property p = MakeRandomProperty(rng, q, 1, 100);
  p.num_inputs += 1;
  try {
    VerifyProperty(q, p, VerifyOptions{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("random.vnnlib"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qrepair
