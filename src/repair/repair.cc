// The repair loop: rank, build exact per-neuron problems, solve them in parallel, and keep a
// patch only when the reference pass over the whole repair set confirms the gain.
#include "qrepair/repair/repair.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "qrepair/error.h"
#include "qrepair/quant/evaluate.h"

namespace qrepair {

RepairStrategy ParseStrategy(const std::string& name) {
  if (name == "default") return RepairStrategy::kDefault;
  if (name == "qnnrepair") return RepairStrategy::kQnnRepair;
  throw Error(ExitCode::kUsage, "--strategy: expected default or qnnrepair, got '" + name + "'");
}

namespace {

// Problems solved against one base network: fixed size, so results do not depend on --jobs.
constexpr size_t kGroupSize = 4;

struct Candidate {
  int layer;
  int unit;
};

std::vector<Candidate> SelectCandidates(const Network& float_net, const QuantizedNetwork& net,
                                        const Dataset& data, const SampleSplit& split,
                                        const RepairOptions& o, RankMethod method, int count) {
  RankOptions ro;
  ro.method = method;
  ro.layers = o.layers;
  if (o.strategy == RepairStrategy::kQnnRepair) ro.layers = {net.layers[net.LogitLayer()].name};
  std::vector<NeuronScore> ranking = RankNeurons(float_net, net, data, split, ro);
  std::vector<Candidate> out;
  for (const NeuronScore& s : ranking) {
    if (static_cast<int>(out.size()) >= count) break;
    if (net.layers[s.layer].kind != LayerKind::kDense) continue;
    out.push_back({s.layer, s.unit});
  }
  return out;
}

int64_t CountRight(const CodeBatch& logits, const SampleSplit& split, std::vector<int>* top1) {
  *top1 = ArgmaxColumns(logits);
  int64_t right = 0;
  for (size_t s = 0; s < top1->size(); ++s) right += (*top1)[s] == split.target[s];
  return right;
}

// The guard set's trace, kept only from the input of the first dense layer on (only dense
// neurons are patched, and RetraceFrom reads from the patched layer's input): the conv
// activations of 8 x the repair set would not fit. Built a chunk of inputs at a time, with the
// float network's top-1 of each input in `float_top1`.
NetworkTrace GuardTrace(const Network& float_net, const QuantizedNetwork& net,
                        const FloatBatch& guard, std::vector<int>* float_top1) {
  size_t first = 0;
  while (first < net.layers.size() && net.layers[first].kind != LayerKind::kDense) ++first;
  constexpr int64_t kChunk = 1024;
  NetworkTrace t;
  t.layers.resize(net.layers.size());
  const int64_t n = guard.cols();
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t m = std::min(kChunk, n - c);
    const FloatBatch chunk = guard.middleCols(c, m);
    const std::vector<int> top1 = ArgmaxColumns(ForwardFloat(float_net, chunk));
    float_top1->insert(float_top1->end(), top1.begin(), top1.end());
    const CodeBatch input = QuantizeInput(net, chunk);
    std::vector<CodeBatch> layers;
    ForwardInteger(net, input, &layers);
    if (first == 0) {
      if (c == 0) t.input.resize(input.rows(), n);
      t.input.middleCols(c, m) = input;
    }
    for (size_t l = first == 0 ? 0 : first - 1; l < layers.size(); ++l) {
      if (c == 0) t.layers[l].resize(layers[l].rows(), n);
      t.layers[l].middleCols(c, m) = layers[l];
    }
  }
  return t;
}

}  // namespace

void ApplyPatch(QuantizedNetwork& net, const NeuronPatch& patch) {
  QuantLayer& l = net.layers[patch.layer];
  const int64_t fan_in = l.FanIn();
  for (int64_t j = 0; j < fan_in; ++j)
    l.weights_q[patch.unit * fan_in + j] = static_cast<int32_t>(patch.weight[j]);
  l.bias_q[patch.unit] = patch.bias;
}

void AddStats(SolverStats& s, const SolveOutcome& o) {
  ++s.problems;
  s.checks += o.checks;
  s.sat += o.sat;
  s.unsat += o.unsat;
  s.unknown += o.unknown;
  s.seconds += o.seconds;
  s.work += o.work;
}

void CheckRepairable(const QuantizedNetwork& start) {
  if (start.float_activations) {
    throw Error(ExitCode::kUsage,
                "repair needs integer activations (" +
                    (start.config.source.empty() ? "the config" : start.config.source) +
                    " has \"activations\": \"float\")");
  }
}

namespace {

// One repair's state: the current network, its trace over the repair rows, the split into
// failing and passing rows, and the guard set's trace. Patches are accepted one at a time, each
// only when the reference pass (RetraceFrom) confirms it.
class RepairLoop {
 public:
  RepairLoop(const Network& float_net, const QuantizedNetwork& start, const Dataset& data,
             const RepairOptions& options, const Budget& budget)
      : float_net_(float_net), start_(start), data_(data), o_(options), budget_(budget) {
    if (o_.strategy == RepairStrategy::kQnnRepair) {
      o_.build.max_failing_rows = 50;
      o_.build.max_passing_rows = 50;
      o_.max_rounds = 1;
      o_.cegar_rounds = 0;
    }
    result_.network = start;
    split_ = SplitSamples(float_net, start, data, o_.target);
    trace_ = TraceNetwork(result_.network, QuantizeInput(result_.network, InputBatch(data)));
    right_ = CountRight(trace_.layers.back(), split_, &top1_);
    UpdateSplit(split_, top1_);
    result_.right_before = right_;
    first_top1_ = top1_;
    if (o_.guard.cols() > 0) {  // the guard's float top-1 and trace: a patch may not lower it
      guard_trace_ = GuardTrace(float_net, result_.network, o_.guard, &guard_target_);
      guard_right_ = CountGuard(guard_trace_);
      result_.guard_samples = o_.guard.cols();
      result_.guard_right_before = guard_right_;
    }
  }

  bool OutOfBudget() const {
    return budget_.TimeUp() || budget_.OutOfWork(result_.solver.work) || budget_.Stopped();
  }
  bool Done() const { return split_.failing.empty(); }

  // One round: rank, then solve the top candidates a fixed-size group at a time. Returns whether
  // the round gained anything.
  bool Round(int round, const ProgressFn& progress) {
    result_.rounds = round;
    const bool qnn = o_.strategy == RepairStrategy::kQnnRepair;
    const std::vector<Candidate> candidates =
        SelectCandidates(float_net_, result_.network, data_, split_, o_,
                         qnn ? RankMethod::kDStar2 : o_.rank_method, qnn ? 5 : o_.neurons);
    if (qnn) o_.build.max_passing_rows = 50;  // QNNRepair keeps at most 100 images in all
    const int64_t right_at_start = right_;
    int done = 0;
    for (size_t g = 0; g < candidates.size() && !OutOfBudget(); g += kGroupSize) {
      const size_t end = std::min(candidates.size(), g + kGroupSize);
      std::vector<NeuronRepairProblem> problems;
      for (size_t c = g; c < end && !budget_.TimeUp() && !budget_.Stopped(); ++c) {
        problems.push_back(BuildNeuronProblem(result_.network, start_, trace_, split_,
                                              candidates[c].layer, candidates[c].unit, o_.build,
                                              {}));
      }
      const std::vector<SolveOutcome> outcomes = SolveGroup(problems);
      for (size_t i = 0; i < problems.size(); ++i) {
        ++done;
        if (!problems[i].rows.empty()) AddStats(result_.solver, outcomes[i]);
        TryOutcome(problems[i], outcomes[i], round);
        if (progress) progress(done, static_cast<int>(candidates.size()), right_);
      }
    }
    return right_ != right_at_start;
  }

  RepairResult Finish() {
    result_.work_limit_reached = budget_.OutOfWork(result_.solver.work);
    result_.limit_reached = budget_.TimeUp() || result_.work_limit_reached;
    result_.interrupted = budget_.Stopped();
    result_.right_after = right_;
    result_.guard_right_after = guard_right_;
    for (size_t s = 0; s < top1_.size(); ++s) {
      result_.broken +=
          first_top1_[s] == split_.target[s] && split_.quant_top1[s] != split_.target[s];
    }
    return std::move(result_);
  }

 private:
  int64_t CountGuard(const NetworkTrace& t) const {
    const std::vector<int> g = ArgmaxColumns(t.layers.back());
    int64_t n = 0;
    for (size_t s = 0; s < g.size(); ++s) n += g[s] == guard_target_[s];
    return n;
  }

  SolverOptions CallOptions() const {
    SolverOptions so = o_.solver;
    budget_.LimitCall(so, result_.solver.work);
    return so;
  }

  // The group's problems in parallel, all with the budget as it stood when the group began, so
  // that the outcomes do not depend on --jobs.
  std::vector<SolveOutcome> SolveGroup(const std::vector<NeuronRepairProblem>& problems) const {
    const SolverOptions group_options = CallOptions();
    std::vector<bool> solved(problems.size(), false);
    std::vector<SolveOutcome> outcomes =
        SolveNeurons(problems, o_.jobs, [&](size_t i) -> std::optional<SolverOptions> {
          if (problems[i].rows.empty() || budget_.TimeUp() || budget_.Stopped())
            return std::nullopt;
          SolverOptions so = group_options;
          budget_.LimitCallTime(so);
          solved[i] = true;
          return so;
        });
    for (size_t i = 0; i < problems.size(); ++i) {
      if (!solved[i]) continue;
      int64_t failing = 0;
      for (const SampleRow& r : problems[i].rows) failing += r.failing;
      spdlog::debug(
          "  {}[{}]: {} failing + {} passing rows: {} after {} checks, {:.2f} s, {:.0f} M work "
          "{}",
          problems[i].layer_name, problems[i].unit, failing,
          static_cast<int64_t>(problems[i].rows.size()) - failing,
          SolveStatusName(outcomes[i].status), outcomes[i].checks, outcomes[i].seconds,
          static_cast<double>(outcomes[i].work) / kWorkUnit, outcomes[i].detail);
    }
    return outcomes;
  }

  // Re-checks a sat outcome with the reference pass; counterexample-guided: rows the problem
  // did not hold are added and the neuron solved again, up to cegar_rounds times.
  void TryOutcome(const NeuronRepairProblem& problem, SolveOutcome out, int round) {
    std::vector<int64_t> extra;
    for (int cegar = 0; out.status == SolveStatus::kSat && !out.fixed_rows.empty(); ++cegar) {
      QuantizedNetwork trial = result_.network;
      ApplyPatch(trial, out.patch);
      NetworkTrace trial_trace = trace_;
      RetraceFrom(trial, out.patch.layer, trial_trace);
      std::vector<int> trial_top1;
      const int64_t trial_right = CountRight(trial_trace.layers.back(), split_, &trial_top1);
      std::vector<int64_t> broken;
      for (int64_t s : split_.passing) {
        if (trial_top1[s] != split_.target[s]) broken.push_back(s);
      }
      if (trial_right > right_ && (o_.allow_broken || broken.empty())) {
        NetworkTrace guard_trial;
        int64_t guard_trial_right = 0;
        if (o_.guard.cols() > 0) {
          guard_trial = guard_trace_;
          RetraceFrom(trial, out.patch.layer, guard_trial);
          guard_trial_right = CountGuard(guard_trial);
          if (guard_trial_right < guard_right_) {
            spdlog::debug("{}[{}]: refused by the guard set ({} -> {} of {} agree)",
                          result_.network.layers[out.patch.layer].name, out.patch.unit,
                          guard_right_, guard_trial_right, o_.guard.cols());
            ++result_.guard_refused;
            return;
          }
        }
        Accept(out.patch, round, trial_right, std::move(trial), std::move(trial_trace), trial_top1);
        if (o_.guard.cols() > 0) {
          guard_trace_ = std::move(guard_trial);
          guard_right_ = guard_trial_right;
        }
        return;
      }
      if (broken.empty() || cegar >= o_.cegar_rounds || OutOfBudget()) return;
      extra.insert(extra.end(), broken.begin(), broken.end());
      const NeuronRepairProblem again = BuildNeuronProblem(
          result_.network, start_, trace_, split_, problem.layer, problem.unit, o_.build, extra);
      out = SolveNeuron(again, CallOptions());
      AddStats(result_.solver, out);
    }
  }

  void Accept(const NeuronPatch& patch, int round, int64_t trial_right, QuantizedNetwork trial,
              NetworkTrace trial_trace, const std::vector<int>& trial_top1) {
    const QuantLayer& before = result_.network.layers[patch.layer];
    NeuronChange change{patch.layer, before.name, patch.unit, {}, trial_right - right_, round};
    const int64_t fan_in = before.FanIn();
    for (int64_t j = 0; j < fan_in; ++j) {
      const int64_t w = before.weights_q[patch.unit * fan_in + j];
      if (w != patch.weight[j]) change.changes.push_back({static_cast<int>(j), w, patch.weight[j]});
    }
    if (before.bias_q[patch.unit] != patch.bias)
      change.changes.push_back({-1, before.bias_q[patch.unit], patch.bias});
    spdlog::debug("{}[{}]: {} weights changed, {} -> {} repair samples right", change.layer_name,
                  change.unit, change.changes.size(), right_, trial_right);
    result_.network = std::move(trial);
    trace_ = std::move(trial_trace);
    right_ = trial_right;
    UpdateSplit(split_, trial_top1);
    result_.changes.push_back(std::move(change));
  }

  const Network& float_net_;
  const QuantizedNetwork& start_;
  const Dataset& data_;
  RepairOptions o_;
  const Budget& budget_;
  RepairResult result_;
  SampleSplit split_;
  NetworkTrace trace_;
  std::vector<int> top1_, first_top1_;
  int64_t right_ = 0;
  std::vector<int> guard_target_;
  NetworkTrace guard_trace_;
  int64_t guard_right_ = 0;
};

}  // namespace

RepairResult RunRepair(const Network& float_net, const QuantizedNetwork& start, const Dataset& data,
                       const RepairOptions& options, const Budget& budget,
                       const ProgressFn& progress) {
  CheckRepairable(start);
  RepairLoop loop(float_net, start, data, options, budget);
  std::string stopped = "it ran its " + std::to_string(options.max_rounds) + " rounds";
  for (int round = 1; round <= options.max_rounds; ++round) {
    if (loop.Done()) {
      stopped = "every repair sample is right";
      break;
    }
    if (loop.OutOfBudget()) break;  // Finish() names the limit
    if (!loop.Round(round, progress)) {
      stopped = "round " + std::to_string(round) + " gained nothing";
      break;
    }
  }
  RepairResult result = loop.Finish();
  if (result.interrupted) {
    result.stopped = "interrupted";
  } else if (result.work_limit_reached) {
    result.stopped = "the work limit";
  } else if (result.limit_reached) {
    result.stopped = "the time limit";
  } else {
    result.stopped = stopped;
  }
  return result;
}

double TargetMeasure(const EvalSummary& s, RepairTarget target) {
  return target == RepairTarget::kLabels ? s.quant_accuracy : s.agreement;
}

}  // namespace qrepair
