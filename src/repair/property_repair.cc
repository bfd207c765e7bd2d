// Repair until proved: verify, turn counterexamples into exact rows, solve neurons, verify again.
#include "qrepair/repair/property_repair.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "qrepair/error.h"
#include "verify/code_network.h"
#include "verify/falsifier.h"
#include "verify/output_constraints.h"

namespace qrepair {

namespace {

// Problems solved against one base network (as RunRepair): results do not depend on --jobs.
constexpr size_t kGroupSize = 4;
// Extra counterexamples looked for around each verified one, per property and round.
constexpr int kExtraSearches = 8;

std::vector<int64_t> Column(const CodeBatch& logits, int64_t c) {
  std::vector<int64_t> y(static_cast<size_t>(logits.rows()));
  for (int64_t k = 0; k < logits.rows(); ++k) y[k] = logits(k, c);
  return y;
}

// The values v of logit `unit` (the others as in `y`) where `clause` holds, inside [lo, hi]:
// each constraint sum_j a_j y_j <= b is a half-line in v, so the clause is one interval (GMP).
std::optional<AccInterval> ClauseValues(const CodeClause& clause, const std::vector<int64_t>& y,
                                        int unit, int64_t lo, int64_t hi) {
  mpz_class vlo = lo, vhi = hi;
  for (const CodeConstraint& c : clause.constraints) {
    mpz_class rhs = c.bound;
    for (size_t j = 0; j < c.a.size(); ++j) {
      if (static_cast<int>(j) != unit && sgn(c.a[j]) != 0) rhs -= c.a[j] * static_cast<long>(y[j]);
    }
    const mpz_class& au = c.a[unit];
    if (sgn(au) == 0) {
      if (rhs < 0) return std::nullopt;  // 0 <= rhs fails whatever v is
      continue;
    }
    mpz_class q;
    if (sgn(au) > 0) {  // v <= floor(rhs / a_u)
      mpz_fdiv_q(q.get_mpz_t(), rhs.get_mpz_t(), au.get_mpz_t());
      vhi = std::min(vhi, q);
    } else {  // v >= ceil(rhs / a_u)
      mpz_cdiv_q(q.get_mpz_t(), rhs.get_mpz_t(), au.get_mpz_t());
      vlo = std::max(vlo, q);
    }
    if (vlo > vhi) return std::nullopt;
  }
  return AccInterval{vlo.get_si(), vhi.get_si()};  // inside [lo, hi]: fits int64
}

// [lo, hi] minus the union of `bad` intervals.
std::vector<AccInterval> Complement(std::vector<AccInterval> bad, int64_t lo, int64_t hi) {
  std::sort(bad.begin(), bad.end(),
            [](const AccInterval& a, const AccInterval& b) { return a.lo < b.lo; });
  std::vector<AccInterval> good;
  int64_t next = lo;  // the first value not yet covered
  for (const AccInterval& b : bad) {
    if (b.lo > next) good.push_back({next, b.lo - 1});
    if (b.hi >= next) {
      if (b.hi >= hi) return good;
      next = b.hi + 1;
    }
  }
  if (next <= hi) good.push_back({next, hi});
  return good;
}

// Class goal: the values of logit `unit` for which `target` is the top-1 (ties to the lowest
// index, as the reference argmax).
std::vector<AccInterval> TargetValues(const std::vector<int64_t>& y, int target, int unit,
                                      int64_t lo, int64_t hi) {
  auto need = [&](int k) -> int64_t { return k < target ? 1 : 0; };
  const int n = static_cast<int>(y.size());
  if (unit == target) {
    int64_t lmin = std::numeric_limits<int64_t>::min();
    for (int k = 0; k < n; ++k) {
      if (k != target) lmin = std::max(lmin, y[k] + need(k));
    }
    if (std::max(lmin, lo) > hi) return {};
    return {{std::max(lmin, lo), hi}};
  }
  for (int k = 0; k < n; ++k) {
    if (k != target && k != unit && y[target] - y[k] < need(k)) return {};
  }
  const int64_t umax = y[target] - need(unit);
  if (umax < lo) return {};
  return {{lo, std::min(umax, hi)}};
}

int64_t TargetMargin(const std::vector<int64_t>& y, int target) {
  int64_t m = std::numeric_limits<int64_t>::max();
  for (int k = 0; k < static_cast<int>(y.size()); ++k) {
    if (k != target) m = std::min(m, y[target] - y[k]);
  }
  return m;
}

struct CounterexampleRow {
  std::vector<int64_t> codes;
  int property = 0;
  int region = 0;
};

class PropertyLoop {
 public:
  PropertyLoop(const QuantizedNetwork& start, const std::vector<Property>& properties,
               const KeptSamples& kept, const PropertyRepairOptions& options, const Budget& budget)
      : start_(start), props_(properties), kept_(kept), o_(options), budget_(budget) {
    if (start.float_activations) {
      throw Error(ExitCode::kUsage, "property repair needs integer activations");
    }
    net_ = start;
    code_net_ = BuildCodeNetwork(start, "the network");
    for (const Property& p : props_) {
      if (p.num_inputs != code_net_.inputs || p.num_outputs != start.NumClasses()) {
        throw BadInput(p.source, "",
                       "the property has " + std::to_string(p.num_inputs) + " inputs and " +
                           std::to_string(p.num_outputs) + " outputs; the network " +
                           std::to_string(code_net_.inputs) + " and " +
                           std::to_string(start.NumClasses()));
      }
      std::vector<CodeRegion> regions;
      for (const UnsafeRegion& r : p.regions) regions.push_back(ToCodeRegion(start, code_net_, r));
      regions_.push_back(std::move(regions));
    }
    result_.properties.resize(props_.size());
    for (size_t i = 0; i < props_.size(); ++i) {
      result_.properties[i].name = props_[i].name;
      result_.properties[i].source = props_[i].source;
    }
  }

  bool OutOfBudget() const { return budget_.TimeUp() || budget_.Stopped(); }

  // Verifies every property on the current network; adds the counterexamples. Returns the
  // number of properties that hold.
  // Verifies every property, or with `undecided_only` those not proved yet (the network has not
  // changed since); returns how many hold.
  size_t VerifyAll(bool first, bool undecided_only = false) {
    size_t holds = 0;
    for (size_t i = 0; i < props_.size(); ++i) {
      PropertyOutcome& out = result_.properties[i];
      if (undecided_only && out.after == Verdict::kHolds) {
        ++holds;
        continue;
      }
      VerifyOptions vo = o_.verify;
      const double left = budget_.SecondsLeft();
      vo.time_limit_seconds =
          vo.time_limit_seconds > 0 ? std::min(vo.time_limit_seconds, left) : left;
      vo.stop = budget_.stop();
      VerifyResult r;
      if (vo.time_limit_seconds <= 0 || budget_.Stopped()) {
        r.reason = budget_.Stopped() ? "interrupted" : "the time limit";
      } else {
        r = VerifyProperty(net_, props_[i], vo);
      }
      out.seconds += r.seconds;
      if (first) out.before = r.verdict;
      out.after = r.verdict;
      out.reason = r.reason;
      out.last_counterexample = r.counterexample;
      spdlog::info("property {}: {}{}", props_[i].name, VerdictName(r.verdict),
                   r.reason.empty() ? "" : " (" + r.reason + ")");
      if (r.verdict == Verdict::kHolds) ++holds;
      if (r.verdict == Verdict::kViolated) {
        AddCounterexample(r.counterexample->codes, static_cast<int>(i), r.counterexample->region);
        MoreCounterexamples(static_cast<int>(i), r.counterexample->region);
      }
    }
    return holds;
  }

  // When verification could not decide (no counterexample, no proof), it gets twice its limits
  // while the budget has room for every undecided property at the doubled time: the work limit
  // when there is one (the same on every machine), else the time limits. Returns false when it
  // cannot grow.
  bool LongerVerification() {
    VerifyOptions& v = o_.verify;
    const auto undecided = static_cast<double>(
        std::count_if(result_.properties.begin(), result_.properties.end(),
                      [](const PropertyOutcome& p) { return p.after != Verdict::kHolds; }));
    std::string what;
    if (v.work_limit > 0) {
      v.work_limit *= 2;
      what = "verification work limit " + std::to_string(v.work_limit);
    } else if (v.time_limit_seconds > 0 &&
               2 * v.time_limit_seconds * undecided <= budget_.SecondsLeft()) {
      v.time_limit_seconds *= 2;
      v.leaf_time_limit_seconds *= 2;
      char buf[64];
      std::snprintf(buf, sizeof buf, "verification time limit %.0f s", v.time_limit_seconds);
      what = buf;
    } else {
      return false;
    }
    if (v.leaf_work_limit > 0) v.leaf_work_limit *= 2;
    result_.widenings.push_back(what);
    spdlog::info("property repair: verification undecided; {}", what);
    return true;
  }

  // One repair step over the counterexamples so far. Returns whether any became safe.
  bool Step(int round) {
    Retrace();
    const int64_t unsafe_at_start = CountUnsafe();
    if (unsafe_at_start == 0) return false;
    const int64_t weight_range = MaxWeightRange();
    for (int64_t delta = o_.build.max_delta; delta <= weight_range; delta *= 2) {
      if (delta != o_.build.max_delta) {
        const std::string w = "max_delta " + std::to_string(delta);
        if (std::find(result_.widenings.begin(), result_.widenings.end(), w) ==
            result_.widenings.end()) {
          result_.widenings.push_back(w);
        }
        spdlog::info("property repair: no progress; widening to {}", w);
      }
      BuildOptions bo = o_.build;
      bo.max_delta = delta;
      bool progress = true;
      while (progress && CountUnsafe() > 0 && !OutOfBudget()) progress = PassOverLayers(bo, round);
      if (CountUnsafe() < unsafe_at_start || OutOfBudget()) break;
      if (delta >= weight_range) break;
    }
    return CountUnsafe() < unsafe_at_start;
  }

  PropertyRepairResult Finish() {
    result_.network = net_;
    result_.counterexamples = static_cast<int64_t>(ces_.size());
    Retrace();
    result_.counterexamples_fixed = static_cast<int64_t>(ces_.size()) - CountUnsafe();
    for (const CounterexampleRow& c : ces_) ++result_.properties[c.property].counterexamples;
    return std::move(result_);
  }

  PropertyRepairResult& result() { return result_; }

 private:
  int64_t Kept() const { return kept_.codes.cols(); }

  void AddCounterexample(const std::vector<int64_t>& codes, int property, int region) {
    if (!seen_.insert(codes).second) return;
    ces_.push_back({codes, property, region});
  }

  // The falsifier around the region of a verified counterexample, with fresh seeds: more rows per
  // round than the verifier's one. Each point is confirmed by the reference pass (CodeClause on
  // the reference logits) and must be reachable by a float32 input of the box.
  void MoreCounterexamples(int property, int region) {
    const CodeRegion& cr = regions_[property][region];
    if (cr.empty) return;
    for (int s = 0; s < kExtraSearches && !OutOfBudget(); ++s) {
      std::mt19937_64 rng(o_.verify.seed + 7919 * static_cast<uint64_t>(++searches_));
      int64_t evaluated = 0;
      FalsifyBudget fb;
      CodeNetwork cn = BuildCodeNetwork(net_, "the network");
      const std::optional<std::vector<int64_t>> p = Falsify(cn, cr, cr.box, fb, rng, evaluated);
      if (!p || !InputForCodes(net_, cr, *p)) continue;
      CodeBatch x(static_cast<int64_t>(p->size()), 1);
      for (size_t i = 0; i < p->size(); ++i) x(static_cast<int64_t>(i), 0) = (*p)[i];
      const std::vector<int64_t> y = Column(ForwardInteger(net_, x), 0);
      if (std::any_of(cr.clauses.begin(), cr.clauses.end(),
                      [&](const CodeClause& c) { return c.Holds(y); })) {
        AddCounterexample(*p, property, region);
      }
    }
  }

  void Retrace() {
    const int64_t n = code_net_.inputs;
    CodeBatch codes(n, Kept() + static_cast<int64_t>(ces_.size()));
    if (Kept() > 0) codes.leftCols(Kept()) = kept_.codes;
    for (size_t c = 0; c < ces_.size(); ++c) {
      for (int64_t i = 0; i < n; ++i)
        codes(i, Kept() + static_cast<int64_t>(c)) = static_cast<int32_t>(ces_[c].codes[i]);
    }
    trace_ = TraceNetwork(net_, codes);
  }

  bool ColumnRight(const CodeBatch& logits, int64_t c) const {
    if (c < Kept()) return LogitsRight(logits, c, kept_.target[c], 0);
    const std::vector<int64_t> y = Column(logits, c);
    const CounterexampleRow& ce = ces_[c - Kept()];
    for (const CodeClause& clause : regions_[ce.property][ce.region].clauses) {
      if (clause.Holds(y)) return false;
    }
    return true;
  }

  int64_t CountUnsafe() const {
    int64_t n = 0;
    for (size_t c = 0; c < ces_.size(); ++c)
      n += !ColumnRight(trace_.layers.back(), Kept() + static_cast<int64_t>(c));
    return n;
  }

  int64_t MaxWeightRange() const {
    int64_t r = 1;
    for (const QuantLayer& l : net_.layers) {
      if (l.kind == LayerKind::kDense) r = std::max(r, l.WeightMax() - l.WeightMin());
    }
    return r;
  }

  GoalSample Goal(int64_t c, bool failing) const {
    GoalSample g;
    g.column = c;
    g.sample = c;
    g.failing = failing;
    g.right = [this, c](const CodeBatch& logits, int64_t col) {
      if (c < Kept()) return LogitsRight(logits, col, kept_.target[c], 0);
      const std::vector<int64_t> y = Column(logits, col);
      const CounterexampleRow& ce = ces_[c - Kept()];
      for (const CodeClause& clause : regions_[ce.property][ce.region].clauses) {
        if (clause.Holds(y)) return false;
      }
      return true;
    };
    g.right_values = [this, c](const CodeBatch& logits, int64_t col, int unit, int64_t lo,
                               int64_t hi) {
      const std::vector<int64_t> y = Column(logits, col);
      if (c < Kept()) return TargetValues(y, kept_.target[c], unit, lo, hi);
      const CounterexampleRow& ce = ces_[c - Kept()];
      std::vector<AccInterval> bad;
      for (const CodeClause& clause : regions_[ce.property][ce.region].clauses) {
        if (auto v = ClauseValues(clause, y, unit, lo, hi)) bad.push_back(*v);
      }
      return Complement(std::move(bad), lo, hi);
    };
    return g;
  }

  // Rows: unsafe counterexamples (soft), then the columns a patch broke before, then safe
  // counterexamples and kept samples by increasing margin (hard).
  std::vector<GoalSample> Goals(bool failing_only) const {
    const CodeBatch& logits = trace_.layers.back();
    std::vector<GoalSample> goals;
    std::vector<std::pair<int64_t, int64_t>> hard;  // (priority, column)
    for (int64_t c = 0; c < logits.cols(); ++c) {
      const bool right = ColumnRight(logits, c);
      if (!right && c >= Kept()) {
        goals.push_back(Goal(c, true));
      } else if (!failing_only && right) {
        int64_t priority = must_.count(c) ? std::numeric_limits<int64_t>::min()
                           : c >= Kept()  ? std::numeric_limits<int64_t>::min() + 1
                                          : TargetMargin(Column(logits, c), kept_.target[c]);
        hard.push_back({priority, c});
      }
    }
    std::stable_sort(hard.begin(), hard.end());
    for (const auto& h : hard) goals.push_back(Goal(h.second, false));
    return goals;
  }

  std::vector<int> DenseLayers() const {
    std::vector<int> out;
    for (int l = static_cast<int>(net_.layers.size()) - 1; l >= 0; --l) {
      const QuantLayer& q = net_.layers[l];
      if (q.kind != LayerKind::kDense) continue;
      if (!o_.layers.empty() &&
          std::find(o_.layers.begin(), o_.layers.end(), q.name) == o_.layers.end())
        continue;
      out.push_back(l);
    }
    return out;
  }

  // Every dense layer, last first: its neurons scored by how many unsafe counterexamples one
  // change of theirs could make safe, the best `neurons` solved. Returns whether a patch landed.
  bool PassOverLayers(const BuildOptions& bo, int round) {
    bool any = false;
    for (int layer : DenseLayers()) {
      if (OutOfBudget() || CountUnsafe() == 0) break;
      const std::vector<GoalSample> failing = Goals(true);
      std::vector<std::pair<int64_t, int>> scored;  // (-score, unit)
      for (int u = 0; u < net_.layers[layer].Units(); ++u) {
        const NeuronRepairProblem p = BuildGoalProblem(net_, start_, trace_, failing, layer, u, bo);
        if (!p.rows.empty()) scored.push_back({-static_cast<int64_t>(p.rows.size()), u});
      }
      std::stable_sort(scored.begin(), scored.end());
      if (scored.size() > static_cast<size_t>(o_.neurons)) scored.resize(o_.neurons);
      for (size_t g = 0; g < scored.size() && !OutOfBudget() && CountUnsafe() > 0;
           g += kGroupSize) {
        const size_t end = std::min(scored.size(), g + kGroupSize);
        const std::vector<GoalSample> goals = Goals(false);
        std::vector<NeuronRepairProblem> problems;
        for (size_t i = g; i < end; ++i)
          problems.push_back(
              BuildGoalProblem(net_, start_, trace_, goals, layer, scored[i].second, bo));
        const std::vector<SolveOutcome> outcomes = Solve(problems);
        for (size_t i = 0; i < problems.size(); ++i) {
          if (!problems[i].rows.empty()) AddStats(result_.solver, outcomes[i]);
          any |= TryOutcome(problems[i], outcomes[i], bo, round);
        }
      }
    }
    return any;
  }

  std::vector<SolveOutcome> Solve(const std::vector<NeuronRepairProblem>& problems) const {
    SolverOptions group = o_.solver;
    budget_.LimitCall(group, result_.solver.work);
    return SolveNeurons(problems, o_.jobs, [&](size_t i) -> std::optional<SolverOptions> {
      if (problems[i].rows.empty() || OutOfBudget()) return std::nullopt;
      SolverOptions so = group;
      budget_.LimitCallTime(so);
      return so;
    });
  }

  // The reference pass decides: every right column stays right and fewer are unsafe. A patch
  // that breaks columns the problem did not hold is solved again with them (twice at most).
  bool TryOutcome(const NeuronRepairProblem& problem, SolveOutcome out, const BuildOptions& bo,
                  int round) {
    for (int again = 0; out.status == SolveStatus::kSat && !out.fixed_rows.empty(); ++again) {
      QuantizedNetwork trial = net_;
      ApplyPatch(trial, out.patch);
      NetworkTrace t = trace_;
      RetraceFrom(trial, out.patch.layer, t);
      std::vector<int64_t> broken;
      int64_t fixed = 0;
      for (int64_t c = 0; c < t.layers.back().cols(); ++c) {
        const bool before = ColumnRight(trace_.layers.back(), c);
        const bool after = ColumnRight(t.layers.back(), c);
        if (before && !after) broken.push_back(c);
        if (!before && after && c >= Kept()) ++fixed;
      }
      if (broken.empty() && fixed > 0) {
        Accept(out.patch, round, std::move(trial), std::move(t));
        return true;
      }
      if (broken.empty() || again >= 2 || OutOfBudget()) return false;
      must_.insert(broken.begin(), broken.end());
      const NeuronRepairProblem p =
          BuildGoalProblem(net_, start_, trace_, Goals(false), problem.layer, problem.unit, bo);
      SolverOptions so = o_.solver;
      budget_.LimitCall(so, result_.solver.work);
      out = SolveNeuron(p, so);
      AddStats(result_.solver, out);
    }
    return false;
  }

  void Accept(const NeuronPatch& patch, int round, QuantizedNetwork trial, NetworkTrace t) {
    const QuantLayer& before = net_.layers[patch.layer];
    NeuronChange change{patch.layer, before.name, patch.unit, {}, 0, round};
    const int64_t fan_in = before.FanIn();
    for (int64_t j = 0; j < fan_in; ++j) {
      const int64_t w = before.weights_q[patch.unit * fan_in + j];
      if (w != patch.weight[j]) change.changes.push_back({static_cast<int>(j), w, patch.weight[j]});
    }
    if (before.bias_q[patch.unit] != patch.bias)
      change.changes.push_back({-1, before.bias_q[patch.unit], patch.bias});
    const int64_t unsafe_before = CountUnsafe();
    net_ = std::move(trial);
    trace_ = std::move(t);
    change.samples_fixed = unsafe_before - CountUnsafe();
    spdlog::info("{}[{}]: {} weights changed, unsafe counterexamples {} -> {}", change.layer_name,
                 change.unit, change.changes.size(), unsafe_before, CountUnsafe());
    result_.changes.push_back(std::move(change));
  }

  const QuantizedNetwork& start_;
  const std::vector<Property>& props_;
  const KeptSamples& kept_;
  PropertyRepairOptions o_;
  const Budget& budget_;
  QuantizedNetwork net_;
  CodeNetwork code_net_;
  std::vector<std::vector<CodeRegion>> regions_;
  std::vector<CounterexampleRow> ces_;
  std::set<std::vector<int64_t>> seen_;
  std::set<int64_t> must_;
  NetworkTrace trace_;
  PropertyRepairResult result_;
  uint64_t searches_ = 0;
};

}  // namespace

PropertyRepairResult RepairProperties(const QuantizedNetwork& start,
                                      const std::vector<Property>& properties,
                                      const KeptSamples& kept, const PropertyRepairOptions& options,
                                      const Budget& budget) {
  PropertyLoop loop(start, properties, kept, options, budget);
  std::string stopped;
  int round = 1;
  bool undecided_only = false;  // the network did not change: what holds stays proved
  for (;; ++round) {
    loop.result().rounds = round;
    const size_t holds = loop.VerifyAll(round == 1, undecided_only);
    undecided_only = false;
    if (holds == properties.size()) {
      stopped = "every property is proved";
      loop.result().proved = true;
      break;
    }
    if (loop.OutOfBudget()) break;
    if (round >= options.max_rounds) {
      stopped = "it ran its " + std::to_string(options.max_rounds) + " rounds";
      break;
    }
    const bool violated =
        std::any_of(loop.result().properties.begin(), loop.result().properties.end(),
                    [](const PropertyOutcome& p) { return p.after == Verdict::kViolated; });
    if (!violated) {
      if (loop.LongerVerification()) {
        undecided_only = true;
        continue;
      }
      stopped = "verification could not decide within the budget";
      break;
    }
    if (!loop.Step(round)) {
      if (loop.OutOfBudget()) break;
      stopped = "no patch removed a counterexample";
      // The network did not change: its verdicts stand as verified.
      break;
    }
  }
  PropertyRepairResult result = loop.Finish();
  if (stopped.empty()) stopped = budget.Stopped() ? "interrupted" : "the time limit";
  result.stopped = stopped;
  return result;
}

}  // namespace qrepair
