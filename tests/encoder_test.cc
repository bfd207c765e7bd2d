// The three SMT encodings against the exact integer semantics, solver results against the
// reference pass, and the limit enforced from outside the solver.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>

#include "qrepair/repair/problem_builder.h"
#include "qrepair/solver/neuron_solver.h"
#include "random_networks.h"
#include "solver/encoder_testing.h"

namespace qrepair {
namespace {

// A launcher whose children never answer: the kill must work.
class HangingLauncher : public ChildLauncher {
 public:
  ChildProcess Start(const ChildBody&, const ChildLimits& limits) override {
    return ChildLauncher::Start(
        [] {
          while (true) pause();
          return std::string();
        },
        limits);
  }
};

// The default launcher that calls `before_fork` just before each fork.
class CountingLauncher : public ChildLauncher {
 public:
  std::function<void()> before_fork;
  ChildProcess Start(const ChildBody& body, const ChildLimits& limits) override {
    before_fork();
    return ChildLauncher::Start(body, limits);
  }
};

struct Built {
  testing::RandomCase c;
  CodeBatch codes;
  SampleSplit split;
  NeuronRepairProblem problem;
};

Built MakeProblem(std::mt19937_64& rng, int samples, bool want_logit) {
  Built b;
  b.c = testing::MakeRandomCase(rng, samples, false);
  const QuantizedNetwork& q = b.c.quantized;
  b.codes = QuantizeInput(q, b.c.inputs);
  NetworkTrace trace = TraceNetwork(q, b.codes);
  b.split.target.resize(samples);
  std::vector<int> top1 = ArgmaxColumns(trace.layers.back());
  for (int s = 0; s < samples; ++s)
    b.split.target[s] = rng() % 3 == 0 ? static_cast<int>(rng() % q.NumClasses()) : top1[s];
  UpdateSplit(b.split, top1);
  int layer = static_cast<int>(q.layers.size()) - 1;
  if (!want_logit) {
    for (int l = layer - 1; l >= 0; --l) {
      if (q.layers[l].kind == LayerKind::kDense) {
        layer = l;
        break;
      }
    }
  }
  BuildOptions o;
  o.max_delta = 2;
  b.problem = BuildNeuronProblem(q, q, trace, b.split, layer,
                                 static_cast<int>(rng() % q.layers[layer].Units()), o, {});
  return b;
}

TEST(EncoderTest, EveryEncodingAgreesWithTheIntegerSemanticsOnRandomPatches) {
  std::mt19937_64 rng(77);
  int rows_checked = 0;
  for (int trial = 0; trial < 40; ++trial) {
    Built b = MakeProblem(rng, 30, trial % 2 == 0);
    const NeuronRepairProblem& p = b.problem;
    if (p.rows.empty()) continue;
    for (int k = 0; k < 3; ++k) {
      NeuronPatch patch{p.layer, p.unit, p.weight, p.bias};
      for (size_t j = 0; j < p.weight.size(); ++j) {
        patch.weight[j] =
            std::uniform_int_distribution<int64_t>(p.weight_lo[j], p.weight_hi[j])(rng);
      }
      patch.bias = std::uniform_int_distribution<int64_t>(p.bias_lo, p.bias_hi)(rng);
      for (Encoding e :
           {Encoding::kBitVector, Encoding::kPseudoBoolean, Encoding::kLinearInteger}) {
        std::vector<bool> encoded = EvaluateEncodedRows(p, patch, e);
        for (size_t r = 0; r < p.rows.size(); ++r) {
          ASSERT_EQ(encoded[r], InGood(p.rows[r], PatchedAccumulator(p, p.rows[r], patch)))
              << EncodingName(e) << " trial " << trial << " row " << r;
          ++rows_checked;
        }
      }
    }
  }
  EXPECT_GT(rows_checked, 300);
}

TEST(EncoderTest, SolutionsKeepPassingSamplesByTheReferencePass) {
  std::mt19937_64 rng(5);
  int fixed_total = 0;
  int solved[3] = {0, 0, 0};
  for (int trial = 0; trial < 16; ++trial) {
    Built b = MakeProblem(rng, 60, trial % 2 == 0);
    if (b.problem.rows.empty()) continue;
    for (Encoding e : {Encoding::kBitVector, Encoding::kPseudoBoolean, Encoding::kLinearInteger}) {
      SolverOptions o;
      o.encoding = e;
      o.isolate = trial % 3 == 0;      // both paths
      o.solve_time_limit_seconds = 2;  // bit-blasting is slow (issue 4); a timeout is allowed here
      o.check_time_limit_seconds = 0.5;
      auto t0 = std::chrono::steady_clock::now();
      SolveOutcome out = SolveNeuron(b.problem, o);
      if (getenv("QREPAIR_TEST_TIMES"))
        std::printf("%s %zu rows %.2f s %d checks\n", EncodingName(e), b.problem.rows.size(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                    out.checks);
      if (out.status != SolveStatus::kSat) continue;
      ++solved[static_cast<int>(e)];
      QuantizedNetwork patched = b.c.quantized;
      QuantLayer& l = patched.layers[out.patch.layer];
      for (size_t j = 0; j < out.patch.weight.size(); ++j) {
        ASSERT_GE(out.patch.weight[j], b.problem.weight_lo[j]);
        ASSERT_LE(out.patch.weight[j], b.problem.weight_hi[j]);
        l.weights_q[out.patch.unit * l.FanIn() + j] = static_cast<int32_t>(out.patch.weight[j]);
      }
      l.bias_q[out.patch.unit] = out.patch.bias;
      std::vector<int> top1 = ArgmaxColumns(ForwardInteger(patched, b.codes));
      for (int64_t s : b.split.passing) ASSERT_EQ(top1[s], b.split.target[s]) << EncodingName(e);
      for (int64_t r : out.fixed_rows) {
        int64_t s = b.problem.rows[r].sample;
        ASSERT_EQ(top1[s], b.split.target[s]) << EncodingName(e) << " claimed fixed";
        ++fixed_total;
      }
    }
  }
  EXPECT_GT(fixed_total, 0);
  for (int e = 0; e < 3; ++e)
    EXPECT_GT(solved[e], 2) << "encoding " << e << " solved too few problems";
}

// The work budget makes a solve independent of time: repeated solves (in this thread and in a
// child) use the same work and give the same patch, and a budget a little smaller stops earlier.
TEST(EncoderTest, WorkLimitMakesSolvesRepeatableAndBounded) {
  std::mt19937_64 rng(21);
  int compared = 0;
  int cut_short = 0;
  for (int trial = 0; trial < 12; ++trial) {
    Built b = MakeProblem(rng, 60, trial % 2 == 0);
    if (b.problem.rows.empty()) continue;
    SolverOptions o;
    o.encoding = Encoding::kLinearInteger;
    o.work_limit = 2000000;
    o.solve_time_limit_seconds = 60;  // the safety net only
    o.isolate = false;
    SolveOutcome first = SolveNeuron(b.problem, o);
    ASSERT_GT(first.work, 0u) << "Z3 reported no resource count";
    ASSERT_LE(first.work, o.work_limit + o.work_limit / kChecksPerWorkLimit) << "trial " << trial;
    o.isolate = true;
    SolveOutcome again = SolveNeuron(b.problem, o);
    EXPECT_EQ(first.work, again.work) << "trial " << trial;
    EXPECT_EQ(first.checks, again.checks) << "trial " << trial;
    EXPECT_EQ(first.status, again.status) << "trial " << trial;
    EXPECT_EQ(first.patch.weight, again.patch.weight) << "trial " << trial;
    EXPECT_EQ(first.patch.bias, again.patch.bias) << "trial " << trial;
    EXPECT_EQ(first.fixed_rows, again.fixed_rows) << "trial " << trial;
    ++compared;
    if (first.work > 1) {
      o.work_limit = first.work / 2;
      SolveOutcome half = SolveNeuron(b.problem, o);
      EXPECT_LE(half.work, first.work) << "trial " << trial;
      cut_short += half.checks < first.checks;
    }
  }
  EXPECT_GT(compared, 5);
  EXPECT_GT(cut_short, 0);
}

TEST(EncoderTest, TimeLimitHoldsEvenWhenTheSolverNeverAnswers) {
  std::mt19937_64 rng(9);
  Built b = MakeProblem(rng, 20, true);
  SolverOptions o;
  o.solve_time_limit_seconds = 0.5;
  HangingLauncher hanging;
  o.launcher = &hanging;
  auto start = std::chrono::steady_clock::now();
  SolveOutcome out = SolveNeuron(b.problem, o);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(out.status, SolveStatus::kUnknown);
  EXPECT_LT(seconds, 0.5 + 2.0 + 1.0);  // limit + documented grace + scheduling slack
  EXPECT_NE(out.detail.find("killed"), std::string::npos);
}

size_t ThreadCount() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

// Regression (found under ASan with --jobs 2): solver processes were forked from worker threads,
// and a child forked while another thread held the allocator's lock hung until it was killed at
// the time limit, so --jobs 2 gave other results than --jobs 1. Every fork now happens with no
// thread of ours running besides the caller's, and parallel solves equal sequential ones.
TEST(EncoderTest, ParallelSolvesForkFromTheCallingThreadAndEqualSequentialSolves) {
  std::mt19937_64 rng(5);
  std::vector<NeuronRepairProblem> problems;
  while (problems.size() < 6) {
    Built b = MakeProblem(rng, 40, problems.size() % 2 == 0);
    if (!b.problem.rows.empty()) problems.push_back(b.problem);
  }
  SolverOptions o;
  o.encoding = Encoding::kLinearInteger;
  o.work_limit = 2000000;  // deterministic: the outcome may not depend on the order of work
  o.solve_time_limit_seconds = 60;  // the safety net only
  const size_t threads_before = ThreadCount();
  size_t forks = 0, most_threads = 0;
  SolverOptions counted = o;
  CountingLauncher counter;
  counter.before_fork = [&] {
    ++forks;
    most_threads = std::max(most_threads, ThreadCount());
  };
  counted.launcher = &counter;
  std::vector<SolveOutcome> parallel =
      SolveNeurons(problems, 3, [&](size_t) { return std::optional<SolverOptions>(counted); });
  ASSERT_EQ(parallel.size(), problems.size());
  EXPECT_EQ(forks, problems.size());
  EXPECT_EQ(most_threads, threads_before) << "a solver process was forked while another thread ran";
  for (size_t i = 0; i < problems.size(); ++i) {
    SolveOutcome one = SolveNeuron(problems[i], o);
    EXPECT_EQ(parallel[i].status, one.status) << "problem " << i << ": " << parallel[i].detail;
    EXPECT_EQ(parallel[i].checks, one.checks) << "problem " << i;
    EXPECT_EQ(parallel[i].work, one.work) << "problem " << i;
    EXPECT_EQ(parallel[i].patch.weight, one.patch.weight) << "problem " << i;
    EXPECT_EQ(parallel[i].patch.bias, one.patch.bias) << "problem " << i;
    EXPECT_EQ(parallel[i].fixed_rows, one.fixed_rows) << "problem " << i;
  }
  // Skipped problems keep an empty outcome and start no process.
  forks = 0;
  std::vector<SolveOutcome> some =
      SolveNeurons(problems, 2, [&](size_t i) -> std::optional<SolverOptions> {
        if (i % 2 == 1) return std::nullopt;
        return counted;
      });
  EXPECT_EQ(forks, problems.size() / 2);
  for (size_t i = 1; i < problems.size(); i += 2) {
    EXPECT_EQ(some[i].status, SolveStatus::kUnknown);
    EXPECT_EQ(some[i].checks, 0);
  }
}

TEST(EncoderTest, ParallelSolvesAreKilledAtTheirTimeLimitTogether) {
  std::mt19937_64 rng(9);
  std::vector<NeuronRepairProblem> problems(3, MakeProblem(rng, 20, true).problem);
  SolverOptions o;
  o.solve_time_limit_seconds = 0.5;
  HangingLauncher hanging;
  o.launcher = &hanging;
  auto start = std::chrono::steady_clock::now();
  std::vector<SolveOutcome> out =
      SolveNeurons(problems, 3, [&](size_t) { return std::optional<SolverOptions>(o); });
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 0.5 + 2.0 + 1.0);  // one limit + grace + slack, not three in a row
  for (const SolveOutcome& r : out) {
    EXPECT_EQ(r.status, SolveStatus::kUnknown);
    EXPECT_NE(r.detail.find("killed"), std::string::npos) << r.detail;
  }
}

}  // namespace
}  // namespace qrepair
