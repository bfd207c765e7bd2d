// Repair until proved, on random small integer networks whose properties can be decided by
// enumerating every input code: a "proved" network is re-checked by that enumeration, a
// counterexample by the reference pass, and kept samples must keep their decision.
#include "qrepair/repair/property_repair.h"

#include <gtest/gtest.h>

#include <iostream>
#include <random>

#include "verify_cases.h"

namespace qrepair {
namespace {

using testing::EnumerateProperty;
using testing::MakeRandomIntegerNetwork;
using testing::MakeRandomProperty;

PropertyRepairOptions SmallOptions() {
  PropertyRepairOptions o;
  o.max_rounds = 12;
  o.verify.time_limit_seconds = 20;
  o.verify.leaf_time_limit_seconds = 2;
  return o;
}

Budget Seconds(double s) {
  BudgetLimits l;
  l.job_seconds = s;
  l.call_seconds = 3;
  return Budget::Start(l);
}

// Random inputs of the whole input range and the decisions the start network gives them.
KeptSamples RandomKept(std::mt19937_64& rng, const QuantizedNetwork& q, int count) {
  KeptSamples k;
  const int64_t n = q.input_shape.Size();
  k.codes.resize(n, count);
  std::uniform_int_distribution<int64_t> code(q.input.Min(), q.input.Max());
  for (int c = 0; c < count; ++c) {
    for (int64_t i = 0; i < n; ++i) k.codes(i, c) = static_cast<int32_t>(code(rng));
  }
  k.target = ArgmaxColumns(ForwardInteger(q, k.codes));
  return k;
}

bool HoldsAt(const Property& p, const QuantizedNetwork& q, const Counterexample& ce) {
  CodeBatch x(static_cast<int64_t>(ce.codes.size()), 1);
  for (size_t i = 0; i < ce.codes.size(); ++i)
    x(static_cast<int64_t>(i), 0) = static_cast<int32_t>(ce.codes[i]);
  const CodeBatch logits = ForwardInteger(q, x);
  std::vector<int64_t> y(logits.rows());
  for (Eigen::Index j = 0; j < logits.rows(); ++j) y[j] = logits(j, 0);
  return testing::ClauseHoldsExactly(p.regions[ce.region].clauses[ce.clause],
                                     testing::ExactOutputs(q, y));
}

// Violated properties of random networks: every "proved" is confirmed by enumeration, every
// "violated" carries a counterexample the reference pass confirms, kept samples keep their
// decision, and most properties get proved (so that a repair doing nothing fails the test).
TEST(PropertyRepairTest, ProvedNetworksPassEnumerationAndKeepTheirSamples) {
  std::mt19937_64 rng(20261203);
  int tried = 0, proved = 0, violated_after = 0;
  for (int trial = 0; tried < 60 && trial < 1000; ++trial) {
    testing::NetworkShape shape;
    shape.max_units = 8;
    const QuantizedNetwork q = MakeRandomIntegerNetwork(rng, shape);
    const Property p = MakeRandomProperty(rng, q, 1, 400);
    if (!EnumerateProperty(q, p).violated) continue;
    ++tried;
    const KeptSamples kept = RandomKept(rng, q, 40);
    const PropertyRepairResult r = RepairProperties(q, {p}, kept, SmallOptions(), Seconds(20));
    ASSERT_EQ(r.properties.size(), 1U);
    EXPECT_EQ(r.properties[0].before, Verdict::kViolated) << "trial " << trial;
    const bool truly_violated = EnumerateProperty(r.network, p).violated;
    if (r.proved) {
      ++proved;
      EXPECT_EQ(r.properties[0].after, Verdict::kHolds);
      EXPECT_FALSE(truly_violated) << "trial " << trial << ": proved but enumeration disagrees";
      EXPECT_FALSE(r.changes.empty()) << "trial " << trial;
    }
    if (r.properties[0].after == Verdict::kViolated) {
      ++violated_after;
      EXPECT_TRUE(truly_violated) << "trial " << trial;
      ASSERT_TRUE(r.properties[0].last_counterexample.has_value());
      EXPECT_TRUE(HoldsAt(p, r.network, *r.properties[0].last_counterexample)) << "trial " << trial;
    }
    const std::vector<int> top1 = ArgmaxColumns(ForwardInteger(r.network, kept.codes));
    EXPECT_EQ(top1, kept.target) << "trial " << trial << ": a kept sample changed its decision";
    EXPECT_LE(r.counterexamples_fixed, r.counterexamples);
  }
  EXPECT_EQ(tried, 60);
  std::cout << "[ figures  ] " << proved << " of " << tried << " violated properties proved after "
            << "repair, " << violated_after << " still violated\n";
  // Measured on this generator: most violated properties are repairable within the bounds.
  EXPECT_GE(proved, tried * 7 / 10)
      << proved << " of " << tried << " proved, " << violated_after << " still violated";
}

// A property no weight change can repair (its unsafe set is every output) ends violated with a
// confirmed counterexample, never a false "holds".
TEST(PropertyRepairTest, AnUnrepairablePropertyEndsViolated) {
  std::mt19937_64 rng(7);
  const QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
  Property p = MakeRandomProperty(rng, q, 1, 200);
  OutputConstraint always;
  always.coefficients.assign(p.num_outputs, Rational(0));
  always.bound = 1;  // 0 <= 1: holds at every output
  p.regions.resize(1);
  p.regions[0].clauses = {OutputClause{{always}}};
  PropertyRepairOptions o = SmallOptions();
  o.max_rounds = 3;
  const PropertyRepairResult r = RepairProperties(q, {p}, {}, o, Seconds(30));
  EXPECT_FALSE(r.proved);
  EXPECT_EQ(r.properties[0].after, Verdict::kViolated);
  ASSERT_TRUE(r.properties[0].last_counterexample.has_value());
  EXPECT_TRUE(HoldsAt(p, r.network, *r.properties[0].last_counterexample));
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.stopped, "no patch removed a counterexample");
}

// A property that holds from the start is proved in the first round without a change.
TEST(PropertyRepairTest, APropertyThatHoldsIsProvedWithoutChanges) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
    const Property p = MakeRandomProperty(rng, q, 1, 200);
    if (EnumerateProperty(q, p).violated) continue;
    const PropertyRepairResult r = RepairProperties(q, {p}, {}, SmallOptions(), Seconds(30));
    EXPECT_TRUE(r.proved);
    EXPECT_EQ(r.properties[0].before, Verdict::kHolds);
    EXPECT_TRUE(r.changes.empty());
    EXPECT_EQ(r.rounds, 1);
    return;
  }
  FAIL() << "no property that holds in 200 draws";
}

// Verification that cannot decide within its work limit gets twice the limit (deterministic, as
// the work limit is) until it decides: a property that holds ends proved, with the widening named,
// instead of stopping at "could not decide" with budget left.
TEST(PropertyRepairTest, UndecidedVerificationIsRetriedWithALargerLimit) {
  std::mt19937_64 rng(11);
  int retried = 0;
  for (int trial = 0; trial < 200 && retried < 3; ++trial) {
    const QuantizedNetwork q = MakeRandomIntegerNetwork(rng);
    const Property p = MakeRandomProperty(rng, q, 1, 200);
    if (EnumerateProperty(q, p).violated) continue;
    PropertyRepairOptions o = SmallOptions();
    o.verify.time_limit_seconds = 0;
    o.verify.work_limit = 1;  // nothing decides in one unit
    o.max_rounds = 60;
    const PropertyRepairResult r = RepairProperties(q, {p}, {}, o, Seconds(60));
    EXPECT_EQ(r.properties[0].before, Verdict::kUnknown);
    EXPECT_TRUE(r.proved) << r.stopped;
    EXPECT_EQ(r.properties[0].after, Verdict::kHolds);
    EXPECT_TRUE(r.changes.empty());
    ASSERT_FALSE(r.widenings.empty());
    EXPECT_EQ(r.widenings.back().rfind("verification work limit ", 0), 0u) << r.widenings.back();
    EXPECT_EQ(static_cast<size_t>(r.rounds), r.widenings.size() + 1);
    ++retried;
  }
  EXPECT_EQ(retried, 3);
}

}  // namespace
}  // namespace qrepair
