// Exact per-neuron problems: good accumulator intervals from the reference semantics.
#include "qrepair/repair/problem_builder.h"

#include <algorithm>
#include <limits>
#include <set>

#include "qrepair/error.h"

namespace qrepair {

NetworkTrace TraceNetwork(const QuantizedNetwork& net, const CodeBatch& input_codes) {
  NetworkTrace t;
  t.input = input_codes;
  ForwardInteger(net, input_codes, &t.layers);
  return t;
}

void RetraceFrom(const QuantizedNetwork& net, int from, NetworkTrace& trace) {
  for (size_t l = static_cast<size_t>(from); l < net.layers.size(); ++l) {
    trace.layers[l] = ForwardIntegerLayer(net.layers[l], trace.InputOf(static_cast<int>(l)));
  }
}

bool LogitsRight(const CodeBatch& logits, int64_t column, int target, int64_t margin) {
  int64_t t = logits(target, column);
  for (int k = 0; k < logits.rows(); ++k) {
    if (k == target) continue;
    int64_t need = std::max<int64_t>(margin, k < target ? 1 : 0);
    if (t - int64_t{logits(k, column)} < need) return false;
  }
  return true;
}

namespace {

// Smallest acc in [lo, hi] with f(acc) >= v (f non-decreasing), or hi + 1 if none.
template <typename F>
int64_t FirstAtLeast(F f, int64_t lo, int64_t hi, int64_t v) {
  if (f(hi) < v) return hi + 1;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (f(mid) >= v) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

int64_t Margin(const CodeBatch& logits, int64_t s, int target) {
  int64_t best = std::numeric_limits<int64_t>::max();
  for (int k = 0; k < logits.rows(); ++k) {
    if (k != target) best = std::min(best, int64_t{logits(target, s)} - logits(k, s));
  }
  return best;
}

// Logit layer: good = one half-line of accumulators (or nothing / everything).
void LogitGood(const QuantLayer& layer, int unit, const CodeBatch& logits, int64_t s, int target,
               int64_t margin, const AccInterval& reach, SampleRow& row) {
  auto f = [&](int64_t acc) { return int64_t{RequantizeUnit(layer, unit, acc)}; };
  auto need = [&](int k) { return std::max<int64_t>(margin, k < target ? 1 : 0); };
  for (int k = 0; k < logits.rows(); ++k) {  // pairs not involving `unit` are fixed
    if (k == target || k == unit || target == unit) continue;
    if (int64_t{logits(target, s)} - logits(k, s) < need(k)) return;  // cannot be right
  }
  if (unit == target) {
    int64_t lmin = std::numeric_limits<int64_t>::min();
    for (int k = 0; k < logits.rows(); ++k) {
      if (k != target) lmin = std::max(lmin, int64_t{logits(k, s)} + need(k));
    }
    int64_t a = FirstAtLeast(f, reach.lo, reach.hi, lmin);
    if (a <= reach.hi) row.good.push_back({a, reach.hi});
  } else {
    int64_t umax = int64_t{logits(target, s)} - need(unit);
    int64_t a = FirstAtLeast(f, reach.lo, reach.hi, umax + 1);  // first acc that is too large
    if (a > reach.lo) row.good.push_back({reach.lo, a - 1});
  }
}

// The problem's weights and their bounds: |w' - w_origin| <= max_delta inside the bit range.
NeuronRepairProblem NeuronBounds(const QuantLayer& layer, const QuantLayer& from, int li, int unit,
                                 const BuildOptions& o) {
  if (layer.kind != LayerKind::kDense) {
    throw InternalError("neuron repair supports dense layers; '" + layer.name + "' is " +
                        LayerKindName(layer.kind));
  }
  const int64_t fan_in = layer.FanIn();
  NeuronRepairProblem p;
  p.layer = li;
  p.unit = unit;
  p.layer_name = layer.name;
  p.weight_bits = layer.weight_bits;
  for (int64_t j = 0; j < fan_in; ++j) {
    int64_t w = layer.weights_q[unit * fan_in + j];
    int64_t w0 = from.weights_q[unit * fan_in + j];
    p.weight.push_back(w);
    p.weight_lo.push_back(std::max(layer.WeightMin(), std::min(w, w0 - o.max_delta)));
    p.weight_hi.push_back(std::min(layer.WeightMax(), std::max(w, w0 + o.max_delta)));
  }
  // The bias lives at accumulator scale: allow it the effect of max_delta on one full-scale input.
  const int64_t bias_delta =
      o.max_delta * std::max<int64_t>(1, layer.input.Max() - layer.input.zero_point);
  p.bias = layer.bias_q[unit];
  p.bias_lo = std::max<int64_t>(INT32_MIN, std::min(p.bias, from.bias_q[unit] - bias_delta));
  p.bias_hi = std::min<int64_t>(INT32_MAX, std::max(p.bias, from.bias_q[unit] + bias_delta));
  return p;
}

// Sample `s`'s row of neuron `unit`: its input codes (real / s_x) and current accumulator.
SampleRow MakeRow(const QuantLayer& layer, int unit, const CodeBatch& x, int64_t column) {
  const int64_t fan_in = layer.FanIn();
  SampleRow row;
  row.x.resize(fan_in);
  int64_t acc = layer.bias_q[unit];
  for (int64_t j = 0; j < fan_in; ++j) {
    row.x[j] = static_cast<int32_t>(x(j, column) - layer.input.zero_point);
    acc += int64_t{layer.weights_q[unit * fan_in + j]} * row.x[j];
  }
  row.acc = acc;
  return row;
}

// Appends the accumulators whose requantized value lies in [vlo, vhi] (f non-decreasing over
// `reach`) to `good`, merging with its last interval when adjacent.
template <typename F>
void AppendValueRange(F f, const AccInterval& reach, int64_t vlo, int64_t vhi,
                      std::vector<AccInterval>& good) {
  if (vlo > vhi) return;
  const int64_t lo = FirstAtLeast(f, reach.lo, reach.hi, vlo);
  const int64_t hi = vhi == std::numeric_limits<int64_t>::max()
                         ? reach.hi
                         : FirstAtLeast(f, reach.lo, reach.hi, vhi + 1) - 1;
  if (lo > hi) return;
  if (!good.empty() && good.back().hi + 1 >= lo) {
    good.back().hi = std::max(good.back().hi, hi);
  } else {
    good.push_back({lo, hi});
  }
}

// Keeps only the `count` weights that push the failing rows towards their good sets hardest
// (|sum_r dir_r x_rj|, dir_r = +1 when row r needs a larger accumulator, -1 when smaller);
// the others are fixed. Smaller problems solve much faster; the search is still sound.
void RestrictFreeWeights(NeuronRepairProblem& p, int count) {
  if (count <= 0 || static_cast<int>(p.weight.size()) <= count) return;
  std::vector<double> pull(p.weight.size(), 0.0);
  for (const SampleRow& r : p.rows) {
    if (!r.failing || r.good.empty()) continue;
    double dir = r.acc < r.good.front().lo ? 1.0 : (r.acc > r.good.back().hi ? -1.0 : 0.0);
    for (size_t j = 0; j < r.x.size(); ++j) pull[j] += dir * r.x[j];
  }
  std::vector<size_t> order(p.weight.size());
  for (size_t j = 0; j < order.size(); ++j) order[j] = j;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return std::abs(pull[a]) > std::abs(pull[b]); });
  for (size_t k = static_cast<size_t>(count); k < order.size(); ++k) {
    size_t j = order[k];
    p.weight_lo[j] = p.weight_hi[j] = p.weight[j];
  }
}

}  // namespace

NeuronRepairProblem BuildNeuronProblem(const QuantizedNetwork& net, const QuantizedNetwork& origin,
                                       const NetworkTrace& trace, const SampleSplit& split, int li,
                                       int unit, const BuildOptions& o,
                                       const std::vector<int64_t>& extra_rows) {
  const QuantLayer& layer = net.layers[li];
  if (layer.kind != LayerKind::kDense) {
    throw InternalError("neuron repair supports dense layers; '" + layer.name + "' is " +
                        LayerKindName(layer.kind));
  }
  NeuronRepairProblem p = NeuronBounds(layer, origin.layers[li], li, unit, o);
  const CodeBatch& x = trace.InputOf(li);
  const CodeBatch& logits = trace.layers.back();
  const bool is_logit_layer = li == static_cast<int>(net.layers.size()) - 1;

  // Candidate samples: failing ones, extra ones, and passing ones by increasing margin.
  std::vector<std::pair<int64_t, int64_t>> passing;  // (margin, sample)
  for (int64_t s : split.passing) passing.push_back({Margin(logits, s, split.target[s]), s});
  std::sort(passing.begin(), passing.end());
  std::vector<int64_t> samples(
      split.failing.begin(),
      split.failing.begin() + std::min<int64_t>(split.failing.size(), o.max_failing_rows));
  std::set<int64_t> chosen(samples.begin(), samples.end());
  for (int64_t s : extra_rows) {
    if (chosen.insert(s).second) samples.push_back(s);
  }
  size_t passing_cap = is_logit_layer ? passing.size() : static_cast<size_t>(o.max_passing_rows);
  for (size_t i = 0; i < passing.size() && i < passing_cap; ++i) {
    if (chosen.insert(passing[i].second).second) samples.push_back(passing[i].second);
  }

  // Rows, with their reachable accumulator ranges; hidden layers enumerate output values.
  struct Pending {
    SampleRow row;
    AccInterval reach;
    int64_t vlo, vhi;
  };
  std::vector<Pending> pending;
  for (int64_t s : samples) {
    SampleRow row = MakeRow(layer, unit, x, s);
    row.sample = s;
    row.failing = split.quant_top1[s] != split.target[s];
    const int64_t acc = row.acc;
    AccInterval reach = ReachableRange(p, row);
    int64_t margin =
        row.failing ? o.margin : std::min(o.keep_margin, Margin(logits, s, split.target[s]));
    if (is_logit_layer) {
      LogitGood(layer, unit, logits, s, split.target[s], margin, reach, row);
      bool always =
          row.good.size() == 1 && row.good[0].lo <= reach.lo && row.good[0].hi >= reach.hi;
      if (row.failing ? !row.good.empty() : !always) p.rows.push_back(std::move(row));
      continue;
    }
    int64_t ylo = RequantizeUnit(layer, unit, reach.lo),
            yhi = RequantizeUnit(layer, unit, reach.hi);
    if (ylo == yhi) continue;  // this neuron cannot change the sample
    int64_t y0 = RequantizeUnit(layer, unit, acc);
    int64_t half = o.max_values_per_row / 2;
    int64_t vlo = std::max(ylo, y0 - half), vhi = std::min(yhi, y0 + half);
    pending.push_back({std::move(row), reach, vlo, vhi});
  }
  if (is_logit_layer) {
    RestrictFreeWeights(p, o.max_free_weights);
    return p;
  }

  // Hidden layer: run every (row, value) pair through the rest of the network at once.
  // Bound the enumeration's cost: passing rows come last (by increasing margin) and are dropped
  // first; the reference pass re-checks them all anyway (counterexample-guided).
  int64_t columns = 0;
  size_t keep = 0;
  for (; keep < pending.size(); ++keep) {
    int64_t width = pending[keep].vhi - pending[keep].vlo + 1;
    bool must = pending[keep].row.failing ||
                std::find(extra_rows.begin(), extra_rows.end(), pending[keep].row.sample) !=
                    extra_rows.end();
    if (!must && columns + width > o.max_enumerated_columns) break;
    columns += width;
  }
  pending.resize(keep);
  CodeBatch out(trace.layers[li].rows(), columns);
  int64_t c = 0;
  for (const Pending& r : pending) {
    for (int64_t v = r.vlo; v <= r.vhi; ++v, ++c) {
      out.col(c) = trace.layers[li].col(r.row.sample);
      out(unit, c) = static_cast<int32_t>(v);
    }
  }
  for (size_t l = li + 1; l < net.layers.size(); ++l) out = ForwardIntegerLayer(net.layers[l], out);
  auto f = [&](int64_t acc) { return int64_t{RequantizeUnit(layer, unit, acc)}; };
  c = 0;
  for (Pending& r : pending) {
    int target = split.target[r.row.sample];
    int64_t margin =
        r.row.failing ? o.margin : std::min(o.keep_margin, Margin(logits, r.row.sample, target));
    for (int64_t v = r.vlo; v <= r.vhi; ++v, ++c) {
      if (!LogitsRight(out, c, target, margin)) continue;
      int64_t lo = v == r.vlo ? std::max(r.reach.lo, FirstAtLeast(f, r.reach.lo, r.reach.hi, v))
                              : FirstAtLeast(f, r.reach.lo, r.reach.hi, v);
      int64_t hi = FirstAtLeast(f, r.reach.lo, r.reach.hi, v + 1) - 1;
      if (lo > hi) continue;
      if (!r.row.good.empty() && r.row.good.back().hi + 1 == lo) {
        r.row.good.back().hi = hi;
      } else {
        r.row.good.push_back({lo, hi});
      }
    }
    bool always =
        r.row.good.size() == 1 && r.row.good[0].lo <= r.reach.lo && r.row.good[0].hi >= r.reach.hi;
    if (r.row.failing ? !r.row.good.empty() : !always) p.rows.push_back(std::move(r.row));
  }
  RestrictFreeWeights(p, o.max_free_weights);
  return p;
}

NeuronRepairProblem BuildGoalProblem(const QuantizedNetwork& net, const QuantizedNetwork& origin,
                                     const NetworkTrace& trace,
                                     const std::vector<GoalSample>& samples, int li, int unit,
                                     const BuildOptions& o) {
  const QuantLayer& layer = net.layers[li];
  NeuronRepairProblem p = NeuronBounds(layer, origin.layers[li], li, unit, o);
  const CodeBatch& x = trace.InputOf(li);
  const CodeBatch& logits = trace.layers.back();
  const bool is_logit_layer = li == static_cast<int>(net.layers.size()) - 1;
  auto f = [&](int64_t acc) { return int64_t{RequantizeUnit(layer, unit, acc)}; };
  auto keep_row = [&](SampleRow& row, const AccInterval& reach) {
    const bool always =
        row.good.size() == 1 && row.good[0].lo <= reach.lo && row.good[0].hi >= reach.hi;
    if (row.failing ? !row.good.empty() : !always) p.rows.push_back(std::move(row));
  };

  struct Pending {
    SampleRow row;
    AccInterval reach;
    int64_t column, vlo, vhi;
    const GoalSample* goal;
  };
  std::vector<Pending> pending;
  for (const GoalSample& g : samples) {
    SampleRow row = MakeRow(layer, unit, x, g.column);
    row.sample = g.sample;
    row.failing = g.failing;
    const AccInterval reach = ReachableRange(p, row);
    const int64_t ylo = f(reach.lo), yhi = f(reach.hi);
    if (is_logit_layer) {
      for (const AccInterval& v : g.right_values(logits, g.column, unit, ylo, yhi))
        AppendValueRange(f, reach, v.lo, v.hi, row.good);
      keep_row(row, reach);
      continue;
    }
    if (ylo == yhi) continue;  // this neuron cannot change the sample
    const int64_t y0 = f(row.acc), half = o.max_values_per_row / 2;
    pending.push_back(
        {std::move(row), reach, g.column, std::max(ylo, y0 - half), std::min(yhi, y0 + half), &g});
  }
  if (!is_logit_layer) {
    // Failing rows first, then hard rows while the enumeration's budget lasts.
    std::stable_partition(pending.begin(), pending.end(),
                          [](const Pending& r) { return r.row.failing; });
    int64_t columns = 0;
    size_t keep = 0;
    for (; keep < pending.size(); ++keep) {
      const int64_t width = pending[keep].vhi - pending[keep].vlo + 1;
      if (!pending[keep].row.failing && columns + width > o.max_enumerated_columns) break;
      columns += width;
    }
    pending.resize(keep);
    CodeBatch out(trace.layers[li].rows(), columns);
    int64_t c = 0;
    for (const Pending& r : pending) {
      for (int64_t v = r.vlo; v <= r.vhi; ++v, ++c) {
        out.col(c) = trace.layers[li].col(r.column);
        out(unit, c) = static_cast<int32_t>(v);
      }
    }
    for (size_t l = li + 1; l < net.layers.size(); ++l)
      out = ForwardIntegerLayer(net.layers[l], out);
    c = 0;
    for (Pending& r : pending) {
      for (int64_t v = r.vlo; v <= r.vhi; ++v, ++c) {
        if (r.goal->right(out, c)) AppendValueRange(f, r.reach, v, v, r.row.good);
      }
      keep_row(r.row, r.reach);
    }
  }
  RestrictFreeWeights(p, o.max_free_weights);
  return p;
}

}  // namespace qrepair
