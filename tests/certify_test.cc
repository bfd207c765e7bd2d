// Data-set certification against enumeration of every grid point of every ball, on small random
// networks: first with a brute-force verifier (so the driver's ball, clipping, grid mapping and
// box splitting are checked on their own), then with the real engine.
#include "qrepair/verify/certify.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "qrepair/error.h"
#include "qrepair/io/dataset.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/quantize.h"
#include "qrepair/verify/equivalence.h"
#include "temp_dir.h"
#include "verify/float_chain.h"

namespace qrepair {
namespace {

int Uniform(std::mt19937_64& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

// A small dense ReLU network over `inputs` values in [0, 1].
Network SmallNetwork(std::mt19937_64& rng, int inputs, int classes) {
  Network net;
  net.name = "small";
  net.input_shape = Shape{inputs, 1, 1};
  std::normal_distribution<float> w(0.0f, 1.0f);
  int in = inputs;
  const int hidden = Uniform(rng, 1, 2);
  for (int l = 0; l <= hidden; ++l) {
    const int out = l == hidden ? classes : Uniform(rng, 3, 8);
    Layer d;
    d.kind = LayerKind::kDense;
    d.name = "dense" + std::to_string(l);
    for (int i = 0; i < out * in; ++i) d.weights.push_back(w(rng));
    for (int i = 0; i < out; ++i) d.bias.push_back(0.3f * w(rng));
    net.layers.push_back(d);
    if (l < hidden) {
      Layer r;
      r.kind = LayerKind::kRelu;
      r.name = "relu" + std::to_string(l);
      net.layers.push_back(r);
    }
    in = out;
  }
  ValidateNetwork(net, "small");
  return net;
}

struct Case {
  Network net;
  QuantizedNetwork q;
  RawInputMap map;
  Dataset data;  // integer raw values mapped by `map`, labels = float top-1
};

// `max_inputs` and `max_bits` bound the input codes the brute-force verifier enumerates.
Case MakeCase(std::mt19937_64& rng, int max_inputs = 3, int max_bits = 6) {
  Case c;
  const int inputs = Uniform(rng, 2, max_inputs);
  const int levels = Uniform(rng, 3, 15);  // raw values 0..levels
  c.net = SmallNetwork(rng, inputs, Uniform(rng, 2, 4));
  c.map.scale = 1.0 / levels;
  c.map.offset = 0;
  c.map.clip_lo = 0;
  c.map.clip_hi = levels;
  c.map.integer_grid = true;
  c.data.source = "grid.npy";
  c.data.features = inputs;
  c.data.rows = 12;
  for (int64_t r = 0; r < c.data.rows; ++r)
    for (int i = 0; i < inputs; ++i)
      c.data.values.push_back(c.map.ToInput(Uniform(rng, 0, levels)));
  QuantConfig config;
  config.defaults.weight_bits = Uniform(rng, 2, 6);
  config.activation_bits = Uniform(rng, 2, max_bits);
  config.defaults.granularity =
      Uniform(rng, 0, 1) ? Granularity::kPerChannel : Granularity::kPerTensor;
  FloatBatch calibration = InputBatch(c.data);
  c.q = QuantizeNetwork(c.net, config, calibration, "small");
  c.data.labels = ArgmaxColumns(ForwardFloat(c.net, calibration));
  return c;
}

// Calls `stop(x)` with the network input of every grid point of the ball around `row` until it
// returns true; returns whether it did.
template <typename Stop>
bool AnyGridPoint(const Case& c, int64_t row, double radius, Stop stop) {
  std::vector<double> raw(c.data.features);
  for (int64_t i = 0; i < c.data.features; ++i) raw[i] = *RawFromInput(c.map, c.data.Row(row)[i]);
  RawBall ball = MakeRawBall(c.map, raw, radius);
  std::vector<double> point = ball.lower;
  for (;;) {
    FloatBatch x(c.data.features, 1);
    for (int64_t i = 0; i < c.data.features; ++i) x(i, 0) = c.map.ToInput(point[i]);
    if (stop(x)) return true;
    int64_t i = 0;
    while (i < c.data.features && point[i] == ball.upper[i]) point[i] = ball.lower[i], ++i;
    if (i == c.data.features) return false;
    point[i] += 1;
  }
}

// Every grid point of the ball: does some point change the quantized decision away from target?
bool EnumeratedNonRobust(const Case& c, int64_t row, double radius, int target) {
  return AnyGridPoint(c, row, radius,
                      [&](const FloatBatch& x) { return PredictQuantized(c.q, x)[0] != target; });
}

// A verifier by brute force over every input code of the box (only for "decision is not t"
// properties, whose clauses compare two outputs with bound 0 and a common positive scale).
VerifyResult BruteForceVerifier(const QuantizedNetwork& q, const Property& p,
                                const VerifyOptions&) {
  const InputBox& box = p.regions.at(0).box;
  const int64_t n = static_cast<int64_t>(box.lower.size());
  FloatBatch corners(n, 2);
  for (int64_t i = 0; i < n; ++i) {
    corners(i, 0) = static_cast<float>(box.lower[i].get_d());
    corners(i, 1) = static_cast<float>(box.upper[i].get_d());
  }
  const CodeBatch bounds = QuantizeInput(q, corners);
  int64_t count = 1;
  for (int64_t i = 0; i < n; ++i) count *= bounds(i, 1) - bounds(i, 0) + 1;
  CodeBatch codes(n, count);  // every input code of the box, one column each
  for (int64_t k = 0; k < count; ++k) {
    int64_t rest = k;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t width = bounds(i, 1) - bounds(i, 0) + 1;
      codes(i, k) = static_cast<int32_t>(bounds(i, 0) + rest % width);
      rest /= width;
    }
  }
  const CodeBatch logits = ForwardInteger(q, codes);
  for (int64_t col = 0; col < count; ++col) {
    for (size_t k = 0; k < p.regions[0].clauses.size(); ++k) {
      const OutputConstraint& con = p.regions[0].clauses[k].constraints.at(0);
      mpq_class sum = 0;
      for (int j = 0; j < p.num_outputs; ++j) sum += con.coefficients[j] * logits(j, col);
      if (!(con.strict ? sum < con.bound : sum <= con.bound)) continue;
      VerifyResult r;
      r.verdict = Verdict::kViolated;
      Counterexample ce;
      ce.clause = static_cast<int>(k);
      for (int64_t i = 0; i < n; ++i) {
        ce.codes.push_back(codes(i, col));
        // The smallest float of the box that codes to codes(i) (coding is monotone): bisection.
        FloatBatch probe = corners.col(0);
        auto code_of = [&](float v) {
          probe(i, 0) = v;
          return QuantizeInput(q, probe)(i, 0);
        };
        float lo = corners(i, 0), hi = corners(i, 1);
        while (code_of(lo) < codes(i, col) && lo != hi) {
          const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);
          if (mid == lo || mid == hi) {
            lo = hi;
          } else if (code_of(mid) >= codes(i, col)) {
            hi = mid;
          } else {
            lo = mid;
          }
        }
        const float x = code_of(lo) >= codes(i, col) ? lo : hi;
        ce.input.push_back(x);
      }
      r.counterexample = ce;
      return r;
    }
  }
  VerifyResult r;
  r.verdict = Verdict::kHolds;
  return r;
}

void ExpectCertifyMatchesEnumeration(const VerifierFn& verifier, int cases, uint64_t seed,
                                     int max_inputs = 3, int max_bits = 6) {
  std::mt19937_64 rng(seed);
  int robust = 0, non_robust = 0, misclassified = 0, split = 0;
  for (int n = 0; n < cases; ++n) {
    Case c = MakeCase(rng, max_inputs, max_bits);
    CertifyOptions o;
    o.radii = {1, 2};
    o.map = c.map;
    o.target = n % 2 ? CertifyTarget::kFloat : CertifyTarget::kLabels;
    CertifyResult r = CertifyDataset(c.q, &c.net, c.data, o, verifier);
    ASSERT_EQ(r.samples.size(), 2 * static_cast<size_t>(c.data.rows));
    const std::vector<int> predicted = PredictQuantized(c.q, InputBatch(c.data));
    for (const SampleCertificate& s : r.samples) {
      const int64_t row = s.index;
      ASSERT_EQ(s.target, c.data.labels[row]);  // labels are the float top-1 here
      if (predicted[row] != s.target) {
        EXPECT_EQ(s.verdict, "misclassified");
        ++misclassified;
        continue;
      }
      const bool truth = EnumeratedNonRobust(c, row, s.radius, s.target);
      ASSERT_EQ(s.verdict, truth ? "non-robust" : "robust")
          << "case " << n << " row " << row << " radius " << s.radius << " " << s.reason;
      if (truth) {
        ++non_robust;
        FloatBatch x(c.data.features, 1);
        for (int64_t i = 0; i < c.data.features; ++i) {
          const double raw = s.counterexample_raw[i];
          const double center = *RawFromInput(c.map, c.data.Row(row)[i]);
          EXPECT_LE(std::abs(raw - center), s.radius);
          EXPECT_GE(raw, c.map.clip_lo);
          EXPECT_LE(raw, c.map.clip_hi);
          EXPECT_EQ(raw, std::nearbyint(raw));
          x(i, 0) = c.map.ToInput(raw);
        }
        EXPECT_NE(PredictQuantized(c.q, x)[0], s.target);
      } else {
        ++robust;
        if (s.reason.find("grid splits") != std::string::npos) ++split;
      }
    }
  }
  std::printf("robust %d (%d after grid splits), non-robust %d, misclassified %d\n", robust, split,
              non_robust, misclassified);
  EXPECT_GT(robust, 0);
  EXPECT_GT(split, 0);  // counterexamples between grid points were met and split away
  EXPECT_GT(non_robust, 0);
}

TEST(CertifyTest, BruteForceVerifierVerdictsEqualGridEnumeration) {
  ExpectCertifyMatchesEnumeration(BruteForceVerifier, 60, 7);
}

// The real engine (bounds, branch and bound, Z3 leaves) on wider inputs: 2..4 inputs, 2..8-bit
// codes; the grid balls stay small enough to enumerate.
TEST(CertifyTest, EngineVerdictsEqualGridEnumeration) {
  ExpectCertifyMatchesEnumeration(VerifyProperty, 40, 11, 4, 8);
}

TEST(CertifyTest, BallIsClippedToTheDataRange) {
  RawInputMap map;
  map.clip_lo = 0;
  map.clip_hi = 255;
  RawBall ball = MakeRawBall(map, {0, 254, 100}, 3);
  EXPECT_EQ(ball.lower, (std::vector<double>{0, 251, 97}));
  EXPECT_EQ(ball.upper, (std::vector<double>{3, 255, 103}));
  map.integer_grid = false;
  map.clip_lo = -1;
  map.clip_hi = 1;
  ball = MakeRawBall(map, {0.9, -0.5}, 0.25);
  EXPECT_DOUBLE_EQ(ball.lower[0], 0.65);
  EXPECT_DOUBLE_EQ(ball.upper[0], 1.0);
  EXPECT_DOUBLE_EQ(ball.lower[1], -0.75);
}

TEST(CertifyTest, RawValuesAreRecoveredExactlyOnTheGrid) {
  RawInputMap map;
  map.scale = 1.0 / 255;
  for (int raw = 0; raw <= 255; ++raw) EXPECT_EQ(*RawFromInput(map, map.ToInput(raw)), raw);
  EXPECT_FALSE(RawFromInput(map, map.ToInput(3) + 1e-4f).has_value());
}

TEST(CertifyTest, DecisionChangeClausesFollowTiesToTheLowestIndex) {
  InputBox box;
  box.lower.emplace_back(0);
  box.upper.emplace_back(1);
  Property p = DecisionChangeProperty(3, 1, Decision::kArgmax, box, "t");
  ASSERT_EQ(p.regions[0].clauses.size(), 2u);
  const OutputConstraint& below = p.regions[0].clauses[0].constraints[0];  // k = 0 < t
  const OutputConstraint& above = p.regions[0].clauses[1].constraints[0];  // k = 2 > t
  EXPECT_FALSE(below.strict);  // a tie with output 0 makes 0 the top-1
  EXPECT_TRUE(above.strict);   // a tie with output 2 keeps 1
  EXPECT_EQ(below.coefficients[1], 1);
  EXPECT_EQ(below.coefficients[0], -1);
  Property m = DecisionChangeProperty(3, 1, Decision::kArgmin, box, "t");
  EXPECT_EQ(m.regions[0].clauses[0].constraints[0].coefficients[1], -1);
}

TEST(CertifyTest, JournalResumesWithoutRecomputingAndNeverLosesAVerdict) {
  std::mt19937_64 rng(3);
  Case c = MakeCase(rng);
  testing::TempDir dir("certify");
  CertifyOptions o;
  o.radii = {1};
  o.map = c.map;
  o.journal_path = dir.Path("journal.jsonl");
  o.setup_key = "setup-a";
  int calls = 0;
  VerifierFn counting = [&](const QuantizedNetwork& q, const Property& p, const VerifyOptions& v) {
    ++calls;
    return BruteForceVerifier(q, p, v);
  };
  CertifyResult first = CertifyDataset(c.q, &c.net, c.data, o, counting);
  const int first_calls = calls;
  ASSERT_GT(first_calls, 0);
  // A kill in the middle of a line leaves a partial last line: it is dropped, the rest reused.
  { std::ofstream(o.journal_path, std::ios::app) << "{\"setup\": \"setup-a\", \"ind"; }
  o.resume = true;
  calls = 0;
  CertifyResult second = CertifyDataset(c.q, &c.net, c.data, o, counting);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(second.resumed, static_cast<int64_t>(first.samples.size()));
  ASSERT_EQ(second.samples.size(), first.samples.size());
  for (size_t i = 0; i < first.samples.size(); ++i)
    EXPECT_EQ(second.samples[i].verdict, first.samples[i].verdict);
  // Another setup does not trust the journal.
  o.setup_key = "setup-b";
  calls = 0;
  CertifyDataset(c.q, &c.net, c.data, o, counting);
  EXPECT_EQ(calls, first_calls);
}

// --jobs 2: every sample in a child process; the certificates (verdicts, counterexamples, files)
// and the summaries equal the sequential run's, in row order.
TEST(CertifyTest, TwoJobsGiveTheSequentialCertificates) {
  std::mt19937_64 rng(21);
  testing::TempDir dir("certify_jobs");
  int compared = 0, non_robust = 0;
  for (int n = 0; n < 6; ++n) {
    Case c = MakeCase(rng, 3, 6);
    CertifyOptions o;
    o.radii = {1, 2};
    o.map = c.map;
    o.counterexample_dir = dir.Path("seq");
    std::filesystem::create_directories(o.counterexample_dir);
    const CertifyResult seq = CertifyDataset(c.q, &c.net, c.data, o, VerifyProperty);
    o.verify.jobs = 2;
    o.counterexample_dir = dir.Path("par");
    std::filesystem::create_directories(o.counterexample_dir);
    const CertifyResult par = CertifyDataset(c.q, &c.net, c.data, o, VerifyProperty);
    ASSERT_EQ(par.samples.size(), seq.samples.size());
    for (size_t i = 0; i < seq.samples.size(); ++i) {
      const SampleCertificate &a = seq.samples[i], &b = par.samples[i];
      EXPECT_EQ(b.index, a.index);
      EXPECT_EQ(b.radius, a.radius);
      EXPECT_EQ(b.verdict, a.verdict) << "case " << n << " sample " << i << " " << b.reason;
      EXPECT_EQ(b.counterexample_raw, a.counterexample_raw);
      EXPECT_EQ(b.counterexample_top1, a.counterexample_top1);
      EXPECT_EQ(b.counterexample_file.empty(), a.counterexample_file.empty());
      if (!b.counterexample_file.empty()) {
        EXPECT_TRUE(std::filesystem::exists(b.counterexample_file));
        ++non_robust;
      }
      ++compared;
    }
    ASSERT_EQ(par.summary.size(), seq.summary.size());
    for (size_t r = 0; r < seq.summary.size(); ++r) {
      EXPECT_EQ(par.summary[r].robust, seq.summary[r].robust);
      EXPECT_EQ(par.summary[r].non_robust, seq.summary[r].non_robust);
      EXPECT_EQ(par.summary[r].misclassified, seq.summary[r].misclassified);
      EXPECT_EQ(par.summary[r].unknown, seq.summary[r].unknown);
    }
  }
  EXPECT_GT(compared, 20);
  EXPECT_GT(non_robust, 0);
}

TEST(CertifyTest, CounterexampleFileIsAOneRowNpyThatLoadsBack) {
  testing::TempDir dir("certify_npy");
  const std::string path = dir.Path("ce.npy");
  std::ofstream(path, std::ios::binary) << OneRowNpy({0, 17, 255, 3});
  DataOptions d;
  d.data_path = path;
  d.input_scale = 1.0 / 255;
  Dataset loaded = LoadDataset(d);
  ASSERT_EQ(loaded.rows, 1);
  ASSERT_EQ(loaded.features, 4);
  EXPECT_EQ(loaded.values[1], static_cast<float>(17 * (1.0 / 255)));
}

TEST(CertifyTest, LabelsOutsideTheClassesAreBadInput) {
  std::mt19937_64 rng(5);
  Case c = MakeCase(rng);
  c.data.labels[3] = 42;
  CertifyOptions o;
  o.radii = {1};
  o.map = c.map;
  try {
    CertifyDataset(c.q, &c.net, c.data, o, BruteForceVerifier);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("row 3"), std::string::npos) << e.what();
  }
}

// ---- The equivalent property ----

// The float network's top-1 in exact rational arithmetic, written here from the layers (dense
// and ReLU, as SmallNetwork makes them), apart from the engine's chain.
int OracleExactTop1(const Network& net, const FloatBatch& x) {
  std::vector<mpq_class> v;
  for (Eigen::Index i = 0; i < x.rows(); ++i) v.emplace_back(static_cast<double>(x(i, 0)));
  for (const Layer& layer : net.layers) {
    if (layer.kind == LayerKind::kRelu) {
      for (mpq_class& e : v)
        if (e < 0) e = 0;
      continue;
    }
    const size_t in = v.size(), out = layer.bias.size();
    std::vector<mpq_class> y(out);
    for (size_t r = 0; r < out; ++r) {
      y[r] = static_cast<double>(layer.bias[r]);
      for (size_t j = 0; j < in; ++j)
        y[r] += mpq_class(static_cast<double>(layer.weights[r * in + j])) * v[j];
    }
    v = std::move(y);
  }
  int best = 0;
  for (size_t j = 1; j < v.size(); ++j)
    if (v[j] > v[best]) best = static_cast<int>(j);
  return best;
}

struct EquivalenceTruth {
  bool differs = false;      // some grid point with exact float top-1 != integer top-1
  bool confirmable = false;  // ... where the float32 pass agrees with the exact top-1
};

EquivalenceTruth EnumeratedEquivalence(const Case& c, int64_t row, double radius) {
  EquivalenceTruth truth;
  AnyGridPoint(c, row, radius, [&](const FloatBatch& x) {
    const int exact = OracleExactTop1(c.net, x);
    if (exact != PredictQuantized(c.q, x)[0]) {
      truth.differs = true;
      truth.confirmable = truth.confirmable || ArgmaxColumns(ForwardFloat(c.net, x))[0] == exact;
    }
    return false;  // every point
  });
  return truth;
}

void ExpectEquivalenceMatchesEnumeration(const VerifierFn& verifier, int cases, uint64_t seed,
                                         int max_inputs, int max_bits) {
  std::mt19937_64 rng(seed);
  int equivalent = 0, non_equivalent = 0, at_sample = 0;
  for (int n = 0; n < cases; ++n) {
    Case c = MakeCase(rng, max_inputs, max_bits);
    CertifyOptions o;
    o.radii = {1, 2};
    o.map = c.map;
    o.property = CertifyProperty::kEquivalent;
    CertifyResult r = CertifyDataset(c.q, &c.net, c.data, o, verifier);
    ASSERT_EQ(r.samples.size(), 2 * static_cast<size_t>(c.data.rows));
    for (const SampleCertificate& s : r.samples) {
      const int64_t row = s.index;
      const EquivalenceTruth truth = EnumeratedEquivalence(c, row, s.radius);
      if (!truth.differs) {
        ASSERT_EQ(s.verdict, "equivalent")
            << "case " << n << " row " << row << " radius " << s.radius << " " << s.reason;
        ++equivalent;
        continue;
      }
      if (!truth.confirmable && s.verdict == "unknown") {
        EXPECT_NE(s.reason.find("tie"), std::string::npos) << s.reason;
        continue;
      }
      ASSERT_EQ(s.verdict, "non-equivalent")
          << "case " << n << " row " << row << " radius " << s.radius << " " << s.reason;
      ++non_equivalent;
      FloatBatch x(c.data.features, 1);
      bool is_sample = true;
      for (int64_t i = 0; i < c.data.features; ++i) {
        const double raw = s.counterexample_raw[i];
        const double center = *RawFromInput(c.map, c.data.Row(row)[i]);
        EXPECT_LE(std::abs(raw - center), s.radius);
        EXPECT_GE(raw, c.map.clip_lo);
        EXPECT_LE(raw, c.map.clip_hi);
        EXPECT_EQ(raw, std::nearbyint(raw));
        is_sample = is_sample && raw == center;
        x(i, 0) = c.map.ToInput(raw);
      }
      at_sample += is_sample ? 1 : 0;
      // Confirmed by both passes and by the oracle's exact arithmetic.
      EXPECT_EQ(PredictQuantized(c.q, x)[0], s.counterexample_top1);
      EXPECT_EQ(ArgmaxColumns(ForwardFloat(c.net, x))[0], s.counterexample_float_top1);
      EXPECT_EQ(OracleExactTop1(c.net, x), s.counterexample_float_top1);
      EXPECT_NE(s.counterexample_top1, s.counterexample_float_top1);
    }
  }
  std::printf("equivalent %d, non-equivalent %d (%d at the sample itself)\n", equivalent,
              non_equivalent, at_sample);
  EXPECT_GT(equivalent, 0);
  EXPECT_GT(non_equivalent - at_sample, 0);  // counterexamples inside balls, not only centres
}

TEST(CertifyEquivalenceTest, BruteForceVerifierVerdictsEqualGridEnumeration) {
  ExpectEquivalenceMatchesEnumeration(BruteForceVerifier, 40, 31, 3, 6);
}

TEST(CertifyEquivalenceTest, EngineVerdictsEqualGridEnumeration) {
  ExpectEquivalenceMatchesEnumeration(VerifyProperty, 30, 37, 4, 8);
}

// Deliberately unsound variants: closing a box on the float bounds alone (the integer network
// unchecked), and an unstable ReLU's upper line drawn through the origin. Each is caught: a
// verdict the enumeration oracle contradicts, or the engine's own consistency checks (an
// InternalError: float bounds that do not meet, or a point they contradict).
int WrongEquivalentVerdicts(EquivalenceMutation mutation, uint64_t seed) {
  std::mt19937_64 rng(seed);
  int wrong = 0;
  for (int n = 0; n < 40 && wrong == 0; ++n) {
    Case c = MakeCase(rng, 3, 6);
    EquivalenceEngine mutated;
    mutated.mutation = mutation;
    for (int64_t row = 0; row < c.data.rows; ++row) {
      std::vector<double> raw(c.data.features);
      for (int64_t i = 0; i < c.data.features; ++i)
        raw[i] = *RawFromInput(c.map, c.data.Row(row)[i]);
      EquivalenceAnswer a;
      try {
        a = CheckEquivalence(c.q, c.net, c.map, MakeRawBall(c.map, raw, 2), raw, VerifyOptions{},
                             VerifyProperty, "mutation", mutated);
      } catch (const Error& e) {
        if (e.code() != ExitCode::kInternal) throw;
        ++wrong;
        continue;
      }
      const EquivalenceTruth truth = EnumeratedEquivalence(c, row, 2);
      if (a.verdict == "equivalent" && truth.differs) ++wrong;
    }
  }
  return wrong;
}

TEST(CertifyEquivalenceTest, SoundnessMutationsAreCaught) {
  EXPECT_GT(WrongEquivalentVerdicts(EquivalenceMutation::kTrustFloatAlone, 41), 0);
  EXPECT_GT(WrongEquivalentVerdicts(EquivalenceMutation::kChordThroughZero, 47), 0);
}

// The chain's bounds contain the exact outputs of every point of a box, and its exact outputs
// are the float32 pass's up to rounding, for a convolution network too (conv rows are read off
// the pass).
TEST(CertifyEquivalenceTest, FloatChainBoundsContainTheExactOutputs) {
  std::mt19937_64 rng(43);
  std::normal_distribution<float> w(0.0f, 0.5f);
  Network net;
  net.input_shape = Shape{1, 4, 4};
  Layer conv;
  conv.kind = LayerKind::kConv2d;
  conv.name = "conv";
  conv.input_shape = Shape{1, 4, 4};
  conv.output_shape = Shape{2, 3, 3};
  conv.window.kernel_h = conv.window.kernel_w = 2;
  for (int i = 0; i < 2 * 1 * 2 * 2; ++i) conv.weights.push_back(w(rng));
  conv.bias = {w(rng), w(rng)};
  Layer relu;
  relu.kind = LayerKind::kRelu;
  relu.name = "relu";
  relu.input_shape = relu.output_shape = conv.output_shape;
  Layer flat;
  flat.kind = LayerKind::kFlatten;
  flat.name = "flat";
  flat.input_shape = conv.output_shape;
  flat.output_shape = Shape{18, 1, 1};
  Layer dense;
  dense.kind = LayerKind::kDense;
  dense.name = "dense";
  dense.input_shape = Shape{18, 1, 1};
  dense.output_shape = Shape{3, 1, 1};
  for (int i = 0; i < 3 * 18; ++i) dense.weights.push_back(w(rng));
  dense.bias = {w(rng), w(rng), w(rng)};
  net.layers = {conv, relu, flat, dense};
  ValidateNetwork(net, "conv");
  const FloatChain chain = BuildFloatChain(net, "conv");
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 50; ++trial) {
    CodeBox box;
    box.lo.resize(16);
    box.hi.resize(16);
    for (int i = 0; i < 16; ++i) {
      const double a = static_cast<float>(u(rng)), b = static_cast<float>(a + 0.2 * u(rng));
      box.lo[i] = a;
      box.hi[i] = static_cast<float>(b);
    }
    std::vector<LayerBounds> bounds;
    uint64_t work = 0;
    PropagateFloatBounds(chain, box, bounds, work);
    for (int p = 0; p < 20; ++p) {
      std::vector<float> x(16);
      FloatBatch fx(16, 1);
      for (int i = 0; i < 16; ++i) {
        x[i] = static_cast<float>(box.lo[i] + (box.hi[i] - box.lo[i]) * u(rng));
        x[i] = std::min<float>(std::max<float>(x[i], box.lo[i]), box.hi[i]);
        fx(i, 0) = x[i];
      }
      const std::vector<mpq_class> exact = ExactOutputs(chain, x);
      const FloatBatch pass = ForwardFloat(net, fx);
      for (int j = 0; j < 3; ++j) {
        EXPECT_GE(exact[j], mpq_class(bounds.back().codes.lo[j]));
        EXPECT_LE(exact[j], mpq_class(bounds.back().codes.hi[j]));
        EXPECT_NEAR(exact[j].get_d(), pass(j, 0), 1e-4);
      }
    }
  }
}

TEST(CertifyEquivalenceTest, LayersTheCheckDoesNotHandleAreBadInput) {
  Network net;
  net.input_shape = Shape{2, 1, 1};
  Layer pool;
  pool.kind = LayerKind::kSigmoid;
  pool.name = "squash";
  pool.input_shape = pool.output_shape = Shape{2, 1, 1};
  net.layers = {pool};
  try {
    BuildFloatChain(net, "m.onnx");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("squash"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qrepair
