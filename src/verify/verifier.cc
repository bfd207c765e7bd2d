// VerifyProperty (verifier.h): branch and bound over input code boxes. Each box is closed by
// bound propagation (a clause is impossible when some constraint's sound lower bound exceeds its
// bound), by the reference pass (a single code point), or by a Z3 leaf (region_encoder.h);
// otherwise it is split along the input whose width times influence on the clause closest to
// refutation is largest. Counterexamples are searched for before the search and at every box
// (the centre, and the corner that minimizes the symbolic lower bound), and each one is
// confirmed by the reference pass on a float32 input of the box before it is returned.
// Work units (VerifyOptions::work_limit): one per multiply-add of bound propagation and of point
// evaluation, plus each Z3 leaf's rlimit count, so a work-limited run does not depend on the
// machine. VerifyOptions::jobs is not used yet: the search runs in this process (Z3 leaves in
// one child at a time).
#include "qrepair/verify/verifier.h"

#include <chrono>
#include <cmath>
#include <random>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "solver/region_encoder.h"
#include "verify/code_network.h"
#include "verify/engine.h"
#include "verify/falsifier.h"
#include "verify/output_constraints.h"
#include "verify/symbolic_bounds.h"

namespace qrepair {

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kHolds:
      return "holds";
    case Verdict::kViolated:
      return "violated";
    default:
      return "unknown";
  }
}

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void CheckShapes(const CodeNetwork& net, const Property& p) {
  const std::string& src = p.source;
  if (p.num_inputs != net.inputs || p.num_outputs != net.outputs()) {
    throw BadInput(src, "",
                   "the property has " + std::to_string(p.num_inputs) + " inputs and " +
                       std::to_string(p.num_outputs) + " outputs, the network " +
                       std::to_string(net.inputs) + " and " + std::to_string(net.outputs()));
  }
  for (size_t r = 0; r < p.regions.size(); ++r) {
    const UnsafeRegion& region = p.regions[r];
    const std::string place = "region " + std::to_string(r);
    if (static_cast<int>(region.box.lower.size()) != net.inputs ||
        static_cast<int>(region.box.upper.size()) != net.inputs) {
      throw BadInput(src, place, "the input box does not bound every input");
    }
    if (region.clauses.empty()) throw BadInput(src, place, "no output clause");
    for (const OutputClause& clause : region.clauses) {
      for (const OutputConstraint& c : clause.constraints) {
        if (static_cast<int>(c.coefficients.size()) != net.outputs())
          throw BadInput(src, place,
                         "an output constraint does not have one coefficient per output");
      }
    }
  }
  if (p.regions.empty()) throw BadInput(src, "", "the property has no region");
}

class Search {
 public:
  Search(const QuantizedNetwork& network, const Property& property, const VerifyOptions& options,
         const EngineOptions& engine)
      : network_(network),
        property_(property),
        options_(options),
        engine_(engine),
        net_(BuildCodeNetwork(network, property.source)),
        rng_(options.seed) {
    CheckShapes(net_, property);
    for (const CodeLayer& layer : net_.layers)
      eval_work_ += static_cast<uint64_t>(layer.outputs) * layer.inputs;
  }

  VerifyResult Run() {
    start_ = Clock::now();
    for (const UnsafeRegion& r : property_.regions) {
      regions_.push_back(ToCodeRegion(network_, net_, r));
      if (!regions_.back().empty) total_points_ += regions_.back().box.Points();
    }
    for (size_t r = 0; r < regions_.size() && !result_.counterexample; ++r) {
      if (regions_[r].empty) continue;
      if (engine_.falsify && !LimitReached()) {
        const auto t = Clock::now();
        int64_t evaluated = 0;
        std::optional<std::vector<int64_t>> p =
            Falsify(net_, regions_[r], regions_[r].box, FalsifyBudget{}, rng_, evaluated);
        Count(evaluated);
        result_.stats.seconds_falsify += Since(t);
        if (p && Confirm(static_cast<int>(r), *p)) break;
      }
    }
    for (size_t r = 0; r < regions_.size() && !result_.counterexample; ++r) {
      if (!regions_[r].empty) SearchRegion(static_cast<int>(r));
      if (!limit_reason_.empty()) break;
    }
    Finish();
    return result_;
  }

 private:
  struct Box {
    CodeBox codes;
    int depth = 0;
    bool smt = true;  // false once a Z3 leaf gave up on it (or an ancestor): split instead
  };

  void Count(int64_t evaluated) {
    result_.stats.falsification_points += evaluated;
    result_.stats.work += static_cast<uint64_t>(evaluated) * eval_work_;
  }

  bool LimitReached() {
    if (!limit_reason_.empty()) return true;
    if (options_.stop != nullptr && options_.stop->load()) {
      limit_reason_ = "interrupted";
    } else if (options_.time_limit_seconds > 0 && Since(start_) >= options_.time_limit_seconds) {
      limit_reason_ = "time limit";
    } else if (options_.work_limit > 0 && result_.stats.work >= options_.work_limit) {
      limit_reason_ = "work limit";
    }
    return !limit_reason_.empty();
  }

  // Confirms a candidate with the reference pass on a float32 input of the box; sets the
  // counterexample. False when no float32 input of the box has these codes (not a real input).
  bool Confirm(int region_index, const std::vector<int64_t>& codes) {
    const CodeRegion& region = regions_[region_index];
    const UnsafeRegion& real = property_.regions[region_index];
    std::optional<std::vector<float>> input = InputForCodes(network_, region, codes);
    if (!input) return false;
    const int n = net_.inputs;
    FloatBatch x(n, 1);
    for (int i = 0; i < n; ++i) x(i, 0) = (*input)[i];
    const CodeBatch c = QuantizeInput(network_, x);
    for (int i = 0; i < n; ++i) {
      if (c(i, 0) != codes[i])
        throw InternalError("verifier: a counterexample's input codes differ");
    }
    const CodeBatch logits = ForwardInteger(network_, c);
    std::vector<int64_t> y(logits.rows());
    for (Eigen::Index j = 0; j < logits.rows(); ++j) y[j] = logits(j, 0);
    if (y != EvaluateCodes(net_, codes)) {
      throw InternalError("verifier: its network disagrees with the reference integer pass");
    }
    for (size_t k = 0; k < region.clauses.size(); ++k) {
      if (!region.clauses[k].Holds(y)) continue;
      Counterexample ce;
      ce.region = region_index;
      ce.clause = static_cast<int>(k);
      for (int i = 0; i < n; ++i) {
        // The float32 itself when it lies in the real box; else the box's end it rounds from.
        const mpq_class v((*input)[i]);
        double value = (*input)[i];
        if (v < real.box.lower[i]) value = real.box.lower[i].get_d();
        if (v > real.box.upper[i]) value = real.box.upper[i].get_d();
        ce.input.push_back(value);
      }
      ce.codes = codes;
      ce.logits = y;
      for (int64_t v : y) {
        ce.output.push_back(static_cast<double>(v - net_.output_zero_point) * net_.output_scale);
      }
      result_.counterexample = std::move(ce);
      return true;
    }
    throw InternalError(
        "verifier: a candidate counterexample is not confirmed by the reference pass");
  }

  // True when `point` is a confirmed counterexample.
  bool TryPoint(int region_index, const std::vector<int64_t>& point) {
    bool holds = false;
    RegionMargin(net_, regions_[region_index], point, &holds);
    Count(1);
    return holds && Confirm(region_index, point);
  }

  void SearchRegion(int region_index) {
    const CodeRegion& region = regions_[region_index];
    std::vector<Box> stack{{region.box, 0}};
    std::vector<LayerBounds> bounds;
    // Every exactly representable constraint of every clause: one objective row each.
    std::vector<std::pair<int, int>> rows;  // (clause, constraint)
    for (size_t c = 0; c < region.clauses.size(); ++c) {
      for (size_t k = 0; k < region.clauses[c].constraints.size(); ++k) {
        if (region.clauses[c].constraints[k].a_exact)
          rows.push_back({static_cast<int>(c), static_cast<int>(k)});
      }
    }
    RowMatrix objective(rows.size(), net_.outputs());
    for (size_t i = 0; i < rows.size(); ++i) {
      objective.row(static_cast<Eigen::Index>(i)) =
          region.clauses[rows[i].first].constraints[rows[i].second].a_double.transpose();
    }
    const int depth_layers = static_cast<int>(net_.layers.size());
    while (!stack.empty()) {
      if (LimitReached()) return;
      Box box = std::move(stack.back());
      stack.pop_back();
      const double points = box.codes.Points();
      auto t = Clock::now();
      PropagateBounds(net_, box.codes, engine_.bounds, bounds, result_.stats.work);
      int unstable = 0;
      for (const LayerBounds& b : bounds) unstable += b.unstable;
      Eigen::VectorXd lo, hi;
      RowMatrix coefficients;
      BackSubstitute(net_, bounds, box.codes, depth_layers, objective,
                     Eigen::VectorXd::Zero(objective.rows()), lo, hi, &coefficients,
                     result_.stats.work);
      // A clause is impossible when one of its constraints' lower bound exceeds its bound.
      std::vector<bool> possible(region.clauses.size(), true);
      int focus = -1;  // the row closest to refutation in the first possible clause
      double focus_gap = -std::numeric_limits<double>::infinity();
      for (size_t i = 0; i < rows.size(); ++i) {
        const CodeConstraint& c = region.clauses[rows[i].first].constraints[rows[i].second];
        if (engine_.bounds_close && std::isfinite(lo[static_cast<Eigen::Index>(i)]) &&
            mpq_class(lo[static_cast<Eigen::Index>(i)]) > mpq_class(c.bound)) {
          possible[rows[i].first] = false;
        }
      }
      int first_possible = -1;
      for (size_t c = 0; c < possible.size(); ++c) {
        if (possible[c]) {
          first_possible = static_cast<int>(c);
          break;
        }
      }
      for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].first != first_possible) continue;
        const double gap = lo[static_cast<Eigen::Index>(i)] -
                           region.clauses[rows[i].first].constraints[rows[i].second].bound.get_d();
        if (focus < 0 || gap > focus_gap) {
          focus = static_cast<int>(i);
          focus_gap = gap;
        }
      }
      result_.stats.seconds_bounds += Since(t);
      if (first_possible < 0) {
        ++result_.stats.leaves_bounds;
        proved_points_ += points;
        continue;
      }
      const int n = net_.inputs;
      std::vector<int64_t> centre(n);
      for (int i = 0; i < n; ++i) {
        centre[i] = static_cast<int64_t>(box.codes.lo[i] +
                                         std::floor((box.codes.hi[i] - box.codes.lo[i]) / 2));
      }
      if (points == 1) {
        ++result_.stats.leaves_points;
        if (TryPoint(region_index, centre)) return;
        proved_points_ += 1;  // safe, or no float32 input of the box has these codes
        continue;
      }
      t = Clock::now();
      if (TryPoint(region_index, centre)) return;
      if (focus >= 0) {  // the corner minimizing the focus constraint's lower bound
        std::vector<int64_t> corner(n);
        for (int i = 0; i < n; ++i) {
          corner[i] =
              static_cast<int64_t>(coefficients(focus, i) > 0 ? box.codes.lo[i] : box.codes.hi[i]);
        }
        if (TryPoint(region_index, corner)) return;
      }
      result_.stats.seconds_falsify += Since(t);
      if (engine_.smt && box.smt &&
          (box.depth >= engine_.max_depth ||
           (unstable <= engine_.smt_max_unstable && points > engine_.smt_min_points))) {
        const LeafResult leaf = SmtLeaf(region_index, box, bounds, possible, points);
        if (leaf == LeafResult::kViolated) return;
        if (leaf == LeafResult::kClosed) continue;
        box.smt = false;  // Z3 gave up: the box and its parts are split down to points instead
      }
      // Split the input with the largest width times influence on the focus row.
      int split = -1;
      double best = -1;
      for (int i = 0; i < n; ++i) {
        const double width = box.codes.hi[i] - box.codes.lo[i];
        if (width <= 0) continue;
        const double score =
            (focus >= 0 ? std::fabs(coefficients(focus, i)) : 1.0) * width + 1e-300 * width;
        if (score > best) {
          best = score;
          split = i;
        }
      }
      ++result_.stats.branches;
      Box low = box, high = std::move(box);
      const double mid = std::floor((low.codes.lo[split] + low.codes.hi[split]) / 2);
      low.codes.hi[split] = mid;
      high.codes.lo[split] = mid + 1;
      ++low.depth;
      ++high.depth;
      stack.push_back(std::move(high));
      stack.push_back(std::move(low));
    }
  }

  enum class LeafResult { kViolated, kClosed, kUndecided };

  // kViolated: a confirmed counterexample; kClosed: proved safe; kUndecided: Z3 gave up.
  LeafResult SmtLeaf(int region_index, const Box& box, const std::vector<LayerBounds>& bounds,
                     const std::vector<bool>& possible, double points) {
    const auto t = Clock::now();
    RegionQuery query;
    query.net = &net_;
    query.box = box.codes;
    query.bounds = &bounds;
    query.max_thresholds = engine_.smt_max_thresholds;
    for (size_t c = 0; c < possible.size(); ++c) {
      if (possible[c]) query.clauses.push_back(&regions_[region_index].clauses[c]);
    }
    RegionSolveOptions o;
    o.time_limit_seconds = options_.leaf_time_limit_seconds;
    if (options_.time_limit_seconds > 0) {
      o.time_limit_seconds = std::min(o.time_limit_seconds,
                                      std::max(0.05, options_.time_limit_seconds - Since(start_)));
    }
    o.memory_limit_mb = options_.memory_limit_mb;
    if (options_.work_limit > 0) {
      o.work_limit =
          options_.work_limit > result_.stats.work ? options_.work_limit - result_.stats.work : 1;
    }
    if (options_.leaf_work_limit > 0) {
      o.work_limit = o.work_limit > 0 ? std::min(o.work_limit, options_.leaf_work_limit)
                                      : options_.leaf_work_limit;
    }
    o.isolate = engine_.smt_isolate;
    o.stop = options_.stop;
    o.launcher = engine_.launcher;
    RegionAnswer a = SolveRegion(query, o);
    result_.stats.work += a.work;
    result_.stats.seconds_smt += Since(t);
    if (a.status == SolveStatus::kUnsat) {
      ++result_.stats.leaves_smt;
      proved_points_ += points;
      return LeafResult::kClosed;
    }
    if (a.status == SolveStatus::kSat) {
      ++result_.stats.leaves_smt;
      if (a.codes.size() != static_cast<size_t>(net_.inputs))
        throw InternalError("verifier: a Z3 model without every input");
      for (int i = 0; i < net_.inputs; ++i) {
        if (a.codes[i] < box.codes.lo[i] || a.codes[i] > box.codes.hi[i])
          throw InternalError("verifier: a Z3 model outside its box");
      }
      bool holds = false;
      RegionMargin(net_, regions_[region_index], a.codes, &holds);
      if (!holds) throw InternalError("verifier: a Z3 model the reference pass does not confirm");
      if (Confirm(region_index, a.codes)) return LeafResult::kViolated;
    }
    ++result_.stats.smt_unknown;
    return LeafResult::kUndecided;
  }

  void Finish() {
    result_.seconds = Since(start_);
    result_.stats.proved_fraction = total_points_ > 0 ? proved_points_ / total_points_ : 1.0;
    if (result_.counterexample) {
      result_.verdict = Verdict::kViolated;
      result_.reason.clear();
    } else if (!limit_reason_.empty()) {
      result_.verdict = Verdict::kUnknown;
      result_.reason = limit_reason_;
    } else {
      result_.verdict = Verdict::kHolds;
      result_.stats.proved_fraction = 1.0;
    }
  }

  const QuantizedNetwork& network_;
  const Property& property_;
  const VerifyOptions& options_;
  const EngineOptions& engine_;
  CodeNetwork net_;
  std::mt19937_64 rng_;
  std::vector<CodeRegion> regions_;
  uint64_t eval_work_ = 0;
  double total_points_ = 0, proved_points_ = 0;
  Clock::time_point start_;
  std::string limit_reason_;
  VerifyResult result_;
};

}  // namespace

VerifyResult VerifyWithEngine(const QuantizedNetwork& network, const Property& property,
                              const VerifyOptions& options, const EngineOptions& engine) {
  Search search(network, property, options, engine);
  return search.Run();
}

VerifyResult VerifyProperty(const QuantizedNetwork& network, const Property& property,
                            const VerifyOptions& options) {
  return VerifyWithEngine(network, property, options, EngineOptions{});
}

}  // namespace qrepair
