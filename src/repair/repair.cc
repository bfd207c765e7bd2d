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

using Clock = std::chrono::steady_clock;

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

void CheckRepairable(const QuantizedNetwork& start) {
  if (start.float_activations) {
    throw Error(ExitCode::kUsage,
                "repair needs integer activations (" +
                    (start.config.source.empty() ? "the config" : start.config.source) +
                    " has \"activations\": \"float\")");
  }
}

RepairResult RunRepair(const Network& float_net, const QuantizedNetwork& start, const Dataset& data,
                       const RepairOptions& options, const ProgressFn& progress) {
  CheckRepairable(start);
  const auto begin = Clock::now();
  RepairResult result;
  auto seconds_left = [&] {
    return options.time_limit_seconds - std::chrono::duration<double>(Clock::now() - begin).count();
  };
  auto stopped = [&] { return options.stop && options.stop->load(); };
  SolverStats& stats = result.solver;
  auto out_of_work = [&] { return options.work_limit > 0 && stats.work >= options.work_limit; };
  // A call's options: the job's deadline (and work budget) cap the per-call ones.
  auto call_options = [&] {
    SolverOptions so = options.solver;
    so.time_limit_seconds = std::max(0.2, std::min(so.time_limit_seconds, seconds_left()));
    if (options.work_limit > 0) {
      const uint64_t left = options.work_limit - std::min(options.work_limit, stats.work);
      so.work_limit = so.work_limit > 0 ? std::min(so.work_limit, left) : left;
    }
    so.stop = options.stop;
    return so;
  };

  RepairOptions o = options;
  RankMethod method = o.rank_method;
  int count = o.neurons;
  if (o.strategy == RepairStrategy::kQnnRepair) {
    method = RankMethod::kDStar2;
    count = 5;
    o.build.max_failing_rows = 50;
    o.build.max_passing_rows = 50;
    o.max_rounds = 1;
    o.cegar_rounds = 0;
  }

  result.network = start;
  QuantizedNetwork& current = result.network;
  SampleSplit split = SplitSamples(float_net, start, data, o.target);
  NetworkTrace trace = TraceNetwork(current, QuantizeInput(current, InputBatch(data)));
  std::vector<int> top1;
  int64_t right = CountRight(trace.layers.back(), split, &top1);
  UpdateSplit(split, top1);
  result.right_before = right;
  const std::vector<int> first_top1 = top1;

  // The guard set's float top-1 and integer trace; a patch must not lower its agreement.
  std::vector<int> guard_target;
  NetworkTrace guard_trace;
  int64_t guard_right = 0;
  auto count_guard = [&](const NetworkTrace& t) {
    const std::vector<int> g = ArgmaxColumns(t.layers.back());
    int64_t n = 0;
    for (size_t s = 0; s < g.size(); ++s) n += g[s] == guard_target[s];
    return n;
  };
  if (o.guard.cols() > 0) {
    guard_trace = GuardTrace(float_net, current, o.guard, &guard_target);
    guard_right = count_guard(guard_trace);
    result.guard_samples = o.guard.cols();
    result.guard_right_before = guard_right;
  }

  for (int round = 1; round <= o.max_rounds && !split.failing.empty(); ++round) {
    if (seconds_left() <= 0 || out_of_work() || stopped()) break;
    result.rounds = round;
    std::vector<Candidate> candidates =
        SelectCandidates(float_net, current, data, split, o, method, count);
    if (o.strategy == RepairStrategy::kQnnRepair) {  // QNNRepair keeps at most 100 images in all
      o.build.max_passing_rows = 50;
    }
    int64_t right_at_round_start = right;
    int done = 0;
    for (size_t g = 0; g < candidates.size(); g += kGroupSize) {
      if (seconds_left() <= 0 || out_of_work() || stopped()) break;
      size_t end = std::min(candidates.size(), g + kGroupSize);
      std::vector<NeuronRepairProblem> problems;
      for (size_t c = g; c < end; ++c) {
        if (seconds_left() <= 0 || stopped()) break;
        problems.push_back(BuildNeuronProblem(current, start, trace, split, candidates[c].layer,
                                              candidates[c].unit, o.build, {}));
      }
      const SolverOptions group_options = call_options();  // the same budget for the whole group
      std::vector<bool> solved(problems.size(), false);
      std::vector<SolveOutcome> outcomes =
          SolveNeurons(problems, o.jobs, [&](size_t i) -> std::optional<SolverOptions> {
            if (problems[i].rows.empty() || seconds_left() <= 0 || stopped()) return std::nullopt;
            SolverOptions so = group_options;
            so.time_limit_seconds = std::max(0.2, std::min(so.time_limit_seconds, seconds_left()));
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

      for (size_t i = 0; i < problems.size(); ++i) {
        ++done;
        SolveOutcome out = outcomes[i];
        if (!problems[i].rows.empty()) AddStats(result.solver, out);
        std::vector<int64_t> extra;
        for (int cegar = 0; out.status == SolveStatus::kSat && !out.fixed_rows.empty(); ++cegar) {
          QuantizedNetwork trial = current;
          ApplyPatch(trial, out.patch);
          NetworkTrace trial_trace = trace;
          RetraceFrom(trial, out.patch.layer, trial_trace);
          std::vector<int> trial_top1;
          int64_t trial_right = CountRight(trial_trace.layers.back(), split, &trial_top1);
          std::vector<int64_t> broken;
          for (int64_t s : split.passing) {
            if (trial_top1[s] != split.target[s]) broken.push_back(s);
          }
          bool accept = trial_right > right && (o.allow_broken || broken.empty());
          NetworkTrace guard_trial;
          int64_t guard_trial_right = 0;
          if (accept && o.guard.cols() > 0) {
            guard_trial = guard_trace;
            RetraceFrom(trial, out.patch.layer, guard_trial);
            guard_trial_right = count_guard(guard_trial);
            if (guard_trial_right < guard_right) {
              spdlog::debug("{}[{}]: refused by the guard set ({} -> {} of {} agree)",
                            current.layers[out.patch.layer].name, out.patch.unit, guard_right,
                            guard_trial_right, o.guard.cols());
              ++result.guard_refused;
              break;
            }
          }
          if (accept) {
            NeuronChange change{out.patch.layer,     current.layers[out.patch.layer].name,
                                out.patch.unit,      {},
                                trial_right - right, round};
            const QuantLayer& before = current.layers[out.patch.layer];
            const int64_t fan_in = before.FanIn();
            for (int64_t j = 0; j < fan_in; ++j) {
              int64_t w = before.weights_q[out.patch.unit * fan_in + j];
              if (w != out.patch.weight[j])
                change.changes.push_back({static_cast<int>(j), w, out.patch.weight[j]});
            }
            if (before.bias_q[out.patch.unit] != out.patch.bias) {
              change.changes.push_back({-1, before.bias_q[out.patch.unit], out.patch.bias});
            }
            spdlog::debug("{}[{}]: {} weights changed, {} -> {} repair samples right",
                          change.layer_name, change.unit, change.changes.size(), right,
                          trial_right);
            current = std::move(trial);
            trace = std::move(trial_trace);
            right = trial_right;
            if (o.guard.cols() > 0) {
              guard_trace = std::move(guard_trial);
              guard_right = guard_trial_right;
            }
            UpdateSplit(split, trial_top1);
            result.changes.push_back(std::move(change));
            break;
          }
          if (broken.empty() || cegar >= o.cegar_rounds || seconds_left() <= 0 || out_of_work() ||
              stopped()) {
            break;
          }
          // Counterexample-guided: the reference pass found rows the problem did not hold.
          extra.insert(extra.end(), broken.begin(), broken.end());
          NeuronRepairProblem again = BuildNeuronProblem(
              current, start, trace, split, problems[i].layer, problems[i].unit, o.build, extra);
          out = SolveNeuron(again, call_options());
          AddStats(result.solver, out);
        }
        if (progress) progress(done, static_cast<int>(candidates.size()), right);
      }
    }
    if (right == right_at_round_start) break;  // no gain this round
  }
  result.work_limit_reached = out_of_work();
  result.limit_reached = seconds_left() <= 0 || result.work_limit_reached;
  result.interrupted = stopped();
  result.right_after = right;
  result.guard_right_after = guard_right;
  for (size_t s = 0; s < top1.size(); ++s) {
    result.broken += first_top1[s] == split.target[s] && split.quant_top1[s] != split.target[s];
  }
  return result;
}

double TargetMeasure(const EvalSummary& s, RepairTarget target) {
  return target == RepairTarget::kLabels ? s.quant_accuracy : s.agreement;
}

}  // namespace qrepair
