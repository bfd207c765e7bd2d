// Solves a NeuronRepairProblem with one of the encodings of solver/neuron_encoding.h (the maths
// is stated there), in a child process whose time and memory are limited from outside
// (solver/child_process.h).
//
// Passing rows are hard constraints; each failing row is guarded by an assumption literal, and
// failing rows are added easiest first in batches, bisected when a batch fails.
#include <z3++.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <sstream>

#include "qrepair/error.h"
#include "qrepair/solver/child_process.h"
#include "qrepair/solver/neuron_solver.h"
#include "solver/encoder_testing.h"
#include "solver/neuron_encoding.h"

namespace qrepair {

Encoding ParseEncoding(const std::string& name) {
  if (name == "bv") return Encoding::kBitVector;
  if (name == "pb") return Encoding::kPseudoBoolean;
  if (name == "lia") return Encoding::kLinearInteger;
  throw Error(ExitCode::kUsage, "--encoding: expected bv, pb or lia, got '" + name + "'");
}

const char* EncodingName(Encoding e) {
  return e == Encoding::kBitVector ? "bv" : (e == Encoding::kPseudoBoolean ? "pb" : "lia");
}

const char* SolveStatusName(SolveStatus s) {
  return s == SolveStatus::kSat ? "sat" : (s == SolveStatus::kUnsat ? "unsat" : "unknown");
}

namespace {

using encoding::Encoder;

// Ease of fixing a failing row: how far its accumulator must move, relative to how far it can.
double Difficulty(const NeuronRepairProblem& p, const SampleRow& row) {
  AccInterval reach = ReachableRange(p, row);
  int64_t best = INT64_MAX;
  for (const AccInterval& g : row.good) {
    int64_t d = row.acc < g.lo ? g.lo - row.acc : (row.acc > g.hi ? row.acc - g.hi : 0);
    best = std::min(best, d);
  }
  double room =
      static_cast<double>(std::max<int64_t>(1, std::max(reach.hi - row.acc, row.acc - reach.lo)));
  return static_cast<double>(best) / room;
}

// How far inside its good set a passing row sits, relative to how far it can move.
double Slack(const NeuronRepairProblem& p, const SampleRow& row) {
  AccInterval reach = ReachableRange(p, row);
  double room = static_cast<double>(std::max<int64_t>(1, reach.hi - reach.lo));
  for (const AccInterval& g : row.good) {
    if (row.acc >= g.lo && row.acc <= g.hi) {
      return static_cast<double>(
                 std::min(row.acc - std::max(g.lo, reach.lo), std::min(g.hi, reach.hi) - row.acc)) /
             room;
    }
  }
  return 0.0;
}

// Z3's resource count of the context (cumulative over its checks): "rlimit count" in the
// solver's statistics.
uint64_t WorkUsed(const z3::solver& s) {
  const z3::stats st = s.statistics();
  for (unsigned i = 0; i < st.size(); ++i) {
    if (st.key(i) == "rlimit count") {
      return st.is_uint(i) ? st.uint_value(i) : static_cast<uint64_t>(st.double_value(i));
    }
  }
  return 0;
}

SolveOutcome SolveHere(const NeuronRepairProblem& p, const SolverOptions& o) {
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  SolveOutcome out;
  z3::set_param("memory_max_size",
                static_cast<int>(std::min<uint64_t>(o.memory_limit_mb, 1u << 30)));
  z3::context ctx;
  z3::solver s(ctx);
  z3::params params(ctx);
  if (o.encoding == Encoding::kLinearInteger) params.set("arith.solver", 2u);
  Encoder enc(ctx, p, o.encoding);
  enc.AddDomains(s);
  if (o.max_changes > 0) enc.AddChangeLimit(s, o.max_changes);
  // Passing rows are hard, but added lazily: the tightest ones first, then whichever a model
  // breaks (checked exactly, outside the solver), until a model breaks none.
  std::vector<int64_t> soft_rows;
  std::vector<z3::expr> guards;
  std::vector<std::pair<double, int64_t>> hard_rows;  // (slack, row)
  for (size_t r = 0; r < p.rows.size(); ++r) {
    if (!p.rows[r].failing) {
      hard_rows.push_back({Slack(p, p.rows[r]), static_cast<int64_t>(r)});
      continue;
    }
    z3::expr right = enc.RowRight(p.rows[r]);
    if (!right.is_false()) {
      z3::expr g = ctx.bool_const(("fix_" + std::to_string(r)).c_str());
      s.add(z3::implies(g, right));
      guards.push_back(g);
      soft_rows.push_back(static_cast<int64_t>(r));
    }
  }
  std::sort(hard_rows.begin(), hard_rows.end());
  std::vector<bool> hard_added(p.rows.size(), false);
  for (size_t i = 0; i < hard_rows.size() && i < static_cast<size_t>(o.initial_hard_rows); ++i) {
    s.add(enc.RowRight(p.rows[hard_rows[i].second]));
    hard_added[hard_rows[i].second] = true;
  }
  // Adds the hard rows `patch` breaks; returns how many.
  auto add_broken = [&](const NeuronPatch& patch) {
    int added = 0;
    for (const auto& [slack, r] : hard_rows) {
      if (hard_added[r] || InGood(p.rows[r], PatchedAccumulator(p, p.rows[r], patch))) continue;
      s.add(enc.RowRight(p.rows[r]));
      hard_added[r] = true;
      ++added;
    }
    return added;
  };
  std::vector<size_t> order(soft_rows.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<double> difficulty;
  difficulty.reserve(soft_rows.size());
  for (int64_t r : soft_rows) difficulty.push_back(Difficulty(p, p.rows[r]));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return difficulty[a] < difficulty[b]; });

  // Grow the set of rows to fix: batches of easy rows first, bisecting a batch that fails.
  std::vector<size_t> accepted;
  bool have_model = false;
  std::vector<bool> done(soft_rows.size(), false);
  const bool by_work = o.work_limit > 0;
  auto out_of_work = [&] { return by_work && out.work >= o.work_limit; };
  // Per check: a share of the work budget (deterministic) or of the time; with a work budget the
  // time limit is only the safety net.
  auto set_limits = [&](double left) {
    if (by_work) {
      const uint64_t share = std::max<uint64_t>(1, o.work_limit / kChecksPerWorkLimit);
      params.set("rlimit", static_cast<unsigned>(
                               std::min<uint64_t>({share, o.work_limit - out.work, 0xffffffffu})));
      params.set("timeout", static_cast<unsigned>(1000 * std::max(0.05, left)));
    } else {
      params.set("timeout", static_cast<unsigned>(
                                1000 * std::max(0.05, std::min(left, o.check_time_limit_seconds))));
    }
    s.set(params);
  };
  auto check = [&](const std::vector<size_t>& extra) -> z3::check_result {
    double left = o.solve_time_limit_seconds - elapsed();
    if (left <= 0 || out.checks >= o.max_checks || out_of_work() ||
        (o.stop != nullptr && o.stop->load())) {
      return z3::unknown;
    }
    set_limits(left);
    z3::expr_vector assumptions(ctx);
    for (size_t i : accepted) assumptions.push_back(guards[i]);
    for (size_t i : extra) assumptions.push_back(guards[i]);
    z3::check_result r;
    NeuronPatch model_patch;
    while (true) {
      ++out.checks;
      r = s.check(assumptions);
      out.work = WorkUsed(s);
      (r == z3::sat ? out.sat : (r == z3::unsat ? out.unsat : out.unknown))++;
      if (r != z3::sat) break;
      model_patch = enc.Extract(s.get_model());
      if (add_broken(model_patch) == 0) break;
      if (elapsed() >= o.solve_time_limit_seconds || out.checks >= o.max_checks || out_of_work()) {
        r = z3::unknown;
        break;
      }
      set_limits(o.solve_time_limit_seconds - elapsed());
    }
    if (r == z3::unknown) out.detail = s.reason_unknown();
    if (r == z3::sat) {
      out.patch = model_patch;
      have_model = true;
      accepted.insert(accepted.end(), extra.begin(), extra.end());
      for (size_t i : extra) done[i] = true;
      // Rows the model fixes for free join without a check of their own.
      for (size_t i = 0; i < soft_rows.size(); ++i) {
        if (!done[i] &&
            InGood(p.rows[soft_rows[i]], PatchedAccumulator(p, p.rows[soft_rows[i]], out.patch))) {
          accepted.push_back(i);
          done[i] = true;
        }
      }
    }
    return r;
  };
  if (check({}) == z3::sat) {  // the hard rows alone (the current weights satisfy them)
    std::vector<std::vector<size_t>> stack;
    const size_t batch = 16;
    for (size_t b = 0; b < order.size(); b += batch) {
      std::vector<size_t> chunk(order.begin() + b,
                                order.begin() + std::min(order.size(), b + batch));
      stack.insert(stack.begin(), chunk);
    }
    std::reverse(stack.begin(), stack.end());
    while (!stack.empty() && elapsed() < o.solve_time_limit_seconds && out.checks < o.max_checks &&
           !out_of_work()) {
      std::vector<size_t> chunk;
      for (size_t i : stack.front()) {
        if (!done[i]) chunk.push_back(i);
      }
      stack.erase(stack.begin());
      if (chunk.empty()) continue;
      z3::check_result r = check(chunk);
      if (r == z3::sat) continue;
      if (chunk.size() == 1) {
        done[chunk[0]] = true;  // cannot be fixed together with the accepted rows
        continue;
      }
      size_t half = chunk.size() / 2;
      stack.insert(stack.begin(), std::vector<size_t>(chunk.begin() + half, chunk.end()));
      stack.insert(stack.begin(), std::vector<size_t>(chunk.begin(), chunk.begin() + half));
    }
  }
  out.status = have_model ? SolveStatus::kSat
                          : (out.unknown > 0 ? SolveStatus::kUnknown : SolveStatus::kUnsat);
  if (have_model && accepted.empty()) out.status = SolveStatus::kUnsat;  // nothing fixable
  out.seconds = elapsed();
  return out;
}

std::string Serialize(const SolveOutcome& o) {
  std::ostringstream s;
  s << static_cast<int>(o.status) << ' ' << o.checks << ' ' << o.sat << ' ' << o.unsat << ' '
    << o.unknown << ' ' << o.work << ' ' << o.patch.bias << ' ' << o.patch.weight.size();
  for (int64_t w : o.patch.weight) s << ' ' << w;
  s << '\n' << o.detail;
  return s.str();
}

bool Deserialize(const std::string& text, SolveOutcome& o) {
  std::istringstream s(text);
  int status = 0;
  size_t n = 0;
  if (!(s >> status >> o.checks >> o.sat >> o.unsat >> o.unknown >> o.work >> o.patch.bias >> n)) {
    return false;
  }
  if (status < 0 || status > 2 || n > (1u << 24)) return false;
  o.status = static_cast<SolveStatus>(status);
  o.patch.weight.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (!(s >> o.patch.weight[i])) return false;
  }
  std::string rest;
  std::getline(s, rest);
  std::getline(s, o.detail);
  return true;
}

// The outcome of a solver child: its serialized SolveOutcome, or unknown with the reason.
SolveOutcome ChildSolveOutcome(const ChildProcess::Outcome& child, const NeuronRepairProblem& p) {
  SolveOutcome out;
  if (child.killed) {
    out.status = SolveStatus::kUnknown;
    out.unknown = 1;
    out.checks = 1;
    out.detail = child.detail;
  } else if (!Deserialize(child.text, out)) {
    out = SolveOutcome{};
    out.unknown = 1;
    out.detail = child.detail;
  }
  out.patch.layer = p.layer;
  out.patch.unit = p.unit;
  out.seconds = child.seconds;
  return out;
}

// Starts SolveHere in a child process; the parent kills it at the deadline whatever Z3 does,
// and its address space is capped.
ChildProcess StartSolverChild(const NeuronRepairProblem& p, const SolverOptions& o) {
  ChildLimits limits;
  limits.seconds = o.solve_time_limit_seconds + 2.0;  // Z3's own timeout should fire first
  limits.memory_limit_mb = o.memory_limit_mb;
  limits.stop = o.stop;
  ChildLauncher& launcher = o.launcher != nullptr ? *o.launcher : DefaultChildLauncher();
  return launcher.Start(
      [&p, &o] {
        try {
          return Serialize(SolveHere(p, o));
        } catch (const std::exception& e) {
          SolveOutcome fail;
          fail.detail = std::string("solver error: ") + e.what();
          return Serialize(fail);
        }
      },
      limits);
}

// Checks a solver's patch against the problem's own integer semantics, then drops changes that
// fix nothing (fewest changed weights, greedily).
void CheckAndTrimPatch(const NeuronRepairProblem& p, const SolverOptions& o, SolveOutcome& out) {
  if (out.status != SolveStatus::kSat) return;
  if (out.patch.weight.size() != p.weight.size()) {
    out.status = SolveStatus::kUnknown;
    out.detail = "malformed solver result";
    return;
  }
  std::vector<int64_t> acc(p.rows.size());
  for (size_t r = 0; r < p.rows.size(); ++r) {
    acc[r] = PatchedAccumulator(p, p.rows[r], out.patch);
    if (!p.rows[r].failing && !InGood(p.rows[r], acc[r])) {
      throw InternalError("encoder '" + std::string(EncodingName(o.encoding)) +
                          "' returned a model that breaks a passing row");
    }
  }
  auto fixed_count = [&](const std::vector<int64_t>& a) {
    int64_t n = 0;
    for (size_t r = 0; r < p.rows.size(); ++r) n += p.rows[r].failing && InGood(p.rows[r], a[r]);
    return n;
  };
  const int64_t fixed = fixed_count(acc);
  auto try_revert = [&](int64_t delta, auto coefficient) {
    std::vector<int64_t> trial(acc);
    for (size_t r = 0; r < p.rows.size(); ++r) {
      trial[r] -= delta * coefficient(p.rows[r]);
      if (!p.rows[r].failing && !InGood(p.rows[r], trial[r])) return false;
    }
    if (fixed_count(trial) < fixed) return false;
    acc.swap(trial);
    return true;
  };
  for (size_t j = 0; j < p.weight.size(); ++j) {
    int64_t d = out.patch.weight[j] - p.weight[j];
    if (d != 0 && try_revert(d, [j](const SampleRow& r) { return int64_t{r.x[j]}; })) {
      out.patch.weight[j] = p.weight[j];
    }
  }
  int64_t db = out.patch.bias - p.bias;
  if (db != 0 && try_revert(db, [](const SampleRow&) { return int64_t{1}; }))
    out.patch.bias = p.bias;
  out.fixed_rows.clear();
  for (size_t r = 0; r < p.rows.size(); ++r) {
    if (p.rows[r].failing && InGood(p.rows[r], acc[r]))
      out.fixed_rows.push_back(static_cast<int64_t>(r));
  }
}

}  // namespace

std::vector<bool> EvaluateEncodedRows(const NeuronRepairProblem& p, const NeuronPatch& patch,
                                      Encoding e) {
  z3::context ctx;
  Encoder enc(ctx, p, e);
  std::vector<bool> out;
  z3::solver s(ctx);
  enc.AddDomains(s);
  s.add(enc.FixTo(patch));
  for (const SampleRow& row : p.rows) {
    s.push();
    s.add(enc.RowRight(row));
    out.push_back(s.check() == z3::sat);
    s.pop();
  }
  return out;
}

SolveOutcome SolveNeuron(const NeuronRepairProblem& p, const SolverOptions& o) {
  SolveOutcome out;
  if (o.isolate) {
    ChildProcess child = StartSolverChild(p, o);
    out = ChildSolveOutcome(WaitForChild(child), p);
  } else {
    out = SolveHere(p, o);
  }
  CheckAndTrimPatch(p, o, out);
  return out;
}

std::vector<SolveOutcome> SolveNeurons(
    const std::vector<NeuronRepairProblem>& problems, int jobs,
    const std::function<std::optional<SolverOptions>(size_t)>& options_for) {
  std::vector<SolveOutcome> outcomes(problems.size());
  std::vector<std::optional<SolverOptions>> options(problems.size());
  RunChildPool(
      problems.size(), jobs,
      [&](size_t i) -> std::optional<ChildProcess> {
        options[i] = options_for(i);
        if (!options[i]) return std::nullopt;
        if (!options[i]->isolate) {
          outcomes[i] = SolveNeuron(problems[i], *options[i]);
          return std::nullopt;
        }
        return StartSolverChild(problems[i], *options[i]);
      },
      [&](size_t i, const ChildProcess::Outcome& child) {
        SolveOutcome out = ChildSolveOutcome(child, problems[i]);
        CheckAndTrimPatch(problems[i], *options[i], out);
        outcomes[i] = std::move(out);
      });
  return outcomes;
}

}  // namespace qrepair
