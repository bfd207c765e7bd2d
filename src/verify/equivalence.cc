// Equivalence of the float and the integer network's decisions on a ball (equivalence.h).
#include "qrepair/verify/equivalence.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <utility>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "verify/float_chain.h"
#include "verify/symbolic_bounds.h"

namespace qrepair {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string PointText(const std::vector<double>& raw) {
  std::string text;
  for (size_t i = 0; i < raw.size() && i < 8; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%s%g", i ? ", " : "", raw[i]);
    text += buf;
  }
  return "[" + text + (raw.size() > 8 ? ", ...]" : "]");
}

class EquivalenceSearch {
 public:
  EquivalenceSearch(const QuantizedNetwork& network, const Network& float_network,
                    const RawInputMap& map, const VerifyOptions& limits, const VerifierFn& verifier,
                    std::string name, const EquivalenceEngine& engine)
      : network_(network),
        float_network_(float_network),
        map_(map),
        limits_(limits),
        verifier_(verifier),
        name_(std::move(name)),
        engine_(engine),
        chain_(BuildFloatChain(float_network, name_)) {
    if (chain_.net.inputs != network.input_shape.Size() ||
        chain_.net.outputs() != network.NumClasses()) {
      throw BadInput(name_, "", "the float and the integer network differ in shape");
    }
  }

  EquivalenceAnswer Run(const RawBall& ball, const std::vector<double>& sample) {
    start_ = Clock::now();
    if (Point(sample)) return answer_;
    // The integer network on the whole ball first, against the float top-1 at the sample: when
    // it keeps it everywhere, a box where the float top-1 is proved to be that class is closed
    // without another verifier call; when it does not, its counterexample is often a point where
    // the float network keeps its decision.
    const int sample_top1 = Float32Top1(sample);
    // It gets half of the time: when it cannot decide the whole ball, the boxes of the search
    // below are smaller questions.
    {
      const BallDecision d = IntegerKeeps(ball, sample_top1, 0.5);
      if (!answer_.verdict.empty()) return answer_;  // out of time
      if (d.verdict == Verdict::kHolds) integer_keeps_ = sample_top1;
      if (d.verdict == Verdict::kViolated && Point(d.raw)) return answer_;
    }
    struct Box {
      RawBall raw;
      int depth = 0;
    };
    std::vector<Box> stack{{ball, 0}};
    while (!stack.empty()) {
      if (LimitReached()) return answer_;
      Box box = std::move(stack.back());
      stack.pop_back();
      ++answer_.boxes;
      const int n = chain_.net.inputs;
      CodeBox in;
      in.lo.resize(n);
      in.hi.resize(n);
      std::vector<double> centre(n);
      bool single = true;
      for (int i = 0; i < n; ++i) {
        in.lo[i] = map_.ToInput(box.raw.lower[i]);
        in.hi[i] = map_.ToInput(box.raw.upper[i]);
        single = single && box.raw.lower[i] == box.raw.upper[i];
        centre[i] = map_.integer_grid
                        ? std::floor((box.raw.lower[i] + box.raw.upper[i]) / 2)
                        : box.raw.lower[i] + (box.raw.upper[i] - box.raw.lower[i]) / 2;
      }
      if (single) {
        if (Point(box.raw.lower)) return answer_;
        continue;
      }
      if (Point(centre)) return answer_;
      PropagateFloatBounds(chain_, in, bounds_, work_, BoundMutation());
      const int c = Float32Top1(centre);
      Eigen::VectorXd lo;
      RowMatrix coefficients;
      int focus = -1;
      if (FloatDecided(in, c, lo, coefficients, focus)) {
        if (engine_.mutation == EquivalenceMutation::kTrustFloatAlone) continue;
        if (c == integer_keeps_) continue;  // both keep c on the whole ball
        const BallDecision d = IntegerKeeps(box.raw, c);
        if (!answer_.verdict.empty()) return answer_;
        if (d.verdict == Verdict::kHolds) continue;
        if (d.verdict == Verdict::kUnknown) {
          Unknown("the integer network on a box where the float top-1 is proved: " + d.reason);
          return answer_;
        }
        // The float network keeps c on the whole box, the integer network leaves it here.
        if (Point(d.raw)) return answer_;
        throw InternalError(name_ + ": a point the float bounds and the verifier disagree on");
      }
      if (!map_.integer_grid && box.depth >= engine_.max_depth) {
        Unknown("a real-valued box split " + std::to_string(box.depth) + " times");
        return answer_;
      }
      // Split the input whose width moves the failing float bound most.
      int split = -1;
      double best = -1;
      for (int i = 0; i < n; ++i) {
        if (!(box.raw.upper[i] > box.raw.lower[i])) continue;
        const double score = std::fabs(coefficients(focus, i)) * (in.hi[i] - in.lo[i]) +
                             1e-300 * (box.raw.upper[i] - box.raw.lower[i]);
        if (score > best) {
          best = score;
          split = i;
        }
      }
      Box low = box, high = std::move(box);
      const double l = low.raw.lower[split], u = low.raw.upper[split];
      if (map_.integer_grid) {
        const double mid = std::floor((l + u) / 2);
        low.raw.upper[split] = mid;
        high.raw.lower[split] = mid + 1;
      } else {
        const double mid = l + (u - l) / 2;
        low.raw.upper[split] = mid;
        high.raw.lower[split] = mid;
      }
      ++low.depth;
      ++high.depth;
      stack.push_back(std::move(high));
      stack.push_back(std::move(low));
    }
    answer_.verdict = "equivalent";
    return answer_;
  }

 private:
  void Unknown(std::string reason) {
    answer_.verdict = "unknown";
    answer_.reason = std::move(reason);
  }

  // VerifyBallDecision on `box` with `share` of the time left; sets the answer ("unknown") when
  // none is left.
  BallDecision IntegerKeeps(const RawBall& box, int c, double share = 1.0) {
    VerifyOptions limits = limits_;
    if (limits_.time_limit_seconds > 0) {
      limits.time_limit_seconds = share * (limits_.time_limit_seconds - Since(start_));
      if (limits.time_limit_seconds <= 0) {
        Unknown("the per-sample time limit");
        return {};
      }
    }
    BallDecision d = VerifyBallDecision(network_, map_, box, c, limits, verifier_, name_);
    answer_.verifier_calls += d.calls;
    return d;
  }

  bool LimitReached() {
    if (limits_.stop != nullptr && limits_.stop->load()) {
      Unknown("interrupted");
    } else if (limits_.time_limit_seconds > 0 && Since(start_) >= limits_.time_limit_seconds) {
      Unknown("the per-sample time limit");
    } else if (answer_.boxes >= engine_.max_boxes) {
      Unknown("the box limit (" + std::to_string(engine_.max_boxes) + ")");
    } else {
      return false;
    }
    return true;
  }

  FloatBoundMutation BoundMutation() const {
    return engine_.mutation == EquivalenceMutation::kChordThroughZero
               ? FloatBoundMutation::kChordThroughZero
               : FloatBoundMutation::kNone;
  }

  FloatBatch Input(const std::vector<double>& raw) const {
    FloatBatch x(static_cast<Eigen::Index>(raw.size()), 1);
    for (size_t i = 0; i < raw.size(); ++i)
      x(static_cast<Eigen::Index>(i), 0) = map_.ToInput(raw[i]);
    return x;
  }

  int Float32Top1(const std::vector<double>& raw) const {
    return ArgmaxColumns(ForwardFloat(float_network_, Input(raw)))[0];
  }

  // Rows y_c - y_k (k != c) over the float outputs: true when every one is proved to keep c on
  // top (> 0 for k < c, >= 0 for k > c). `focus` is the row with the lowest bound.
  bool FloatDecided(const CodeBox& in, int c, Eigen::VectorXd& lo, RowMatrix& coefficients,
                    int& focus) {
    const int outputs = chain_.net.outputs();
    RowMatrix a = RowMatrix::Zero(outputs - 1, outputs);
    for (int k = 0, row = 0; k < outputs; ++k) {
      if (k == c) continue;
      a(row, c) = 1;
      a(row, k) = -1;
      ++row;
    }
    Eigen::VectorXd hi;
    BackSubstitute(chain_.net, bounds_, in, static_cast<int>(chain_.net.layers.size()),
                   std::move(a), Eigen::VectorXd::Zero(outputs - 1), lo, hi, &coefficients, work_);
    bool decided = true;
    focus = 0;
    for (int k = 0, row = 0; k < outputs; ++k) {
      if (k == c) continue;
      if (k < c ? !(lo[row] > 0) : !(lo[row] >= 0)) decided = false;
      if (lo[row] < lo[focus]) focus = row;
      ++row;
    }
    return decided;
  }

  // Decides one point exactly. True when it ends the search: a confirmed counterexample, or one
  // the float32 pass cannot confirm (a tie).
  bool Point(const std::vector<double>& raw) {
    const FloatBatch x = Input(raw);
    const int quant = PredictQuantized(network_, x)[0];
    const int single = ArgmaxColumns(ForwardFloat(float_network_, x))[0];
    // The exact top-1: from the float bounds on the point when they prove it (cheap), else from
    // rational arithmetic.
    const int n = chain_.net.inputs;
    CodeBox point;
    point.lo.resize(n);
    for (int i = 0; i < n; ++i) point.lo[i] = x(i, 0);
    point.hi = point.lo;
    PropagateFloatBounds(chain_, point, bounds_, work_, BoundMutation());
    Eigen::VectorXd lo;
    RowMatrix coefficients;
    int focus = 0;
    int exact = single;
    if (!FloatDecided(point, single, lo, coefficients, focus)) {
      std::vector<float> input(x.data(), x.data() + n);
      exact = ExactTop1(ExactOutputs(chain_, input));
    }
    if (exact == quant) return false;
    answer_.raw = raw;
    answer_.float_top1 = exact;
    answer_.quant_top1 = quant;
    if (single == exact) {
      answer_.verdict = "non-equivalent";
      answer_.reason.clear();
    } else {
      Unknown("the float32 pass is too close to a tie to confirm the point " + PointText(raw) +
              " (exact top-1 " + std::to_string(exact) + ", float32 pass " +
              std::to_string(single) + ", integer " + std::to_string(quant) + ")");
    }
    return true;
  }

  const QuantizedNetwork& network_;
  const Network& float_network_;
  const RawInputMap& map_;
  const VerifyOptions& limits_;
  const VerifierFn& verifier_;
  const std::string name_;
  const EquivalenceEngine& engine_;
  FloatChain chain_;
  std::vector<LayerBounds> bounds_;
  uint64_t work_ = 0;
  Clock::time_point start_;
  EquivalenceAnswer answer_;
  int integer_keeps_ = -1;  // a class the integer network keeps on the whole ball, or -1
};

}  // namespace

EquivalenceAnswer CheckEquivalence(const QuantizedNetwork& network, const Network& float_network,
                                   const RawInputMap& map, const RawBall& ball,
                                   const std::vector<double>& sample, const VerifyOptions& limits,
                                   const VerifierFn& verifier, const std::string& name,
                                   const EquivalenceEngine& engine) {
  EquivalenceSearch search(network, float_network, map, limits, verifier, name, engine);
  return search.Run(ball, sample);
}

}  // namespace qrepair
