// Counterexample search over code points (falsifier.h).
#include "verify/falsifier.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qrepair {

double RegionMargin(const CodeNetwork& net, const CodeRegion& region,
                    const std::vector<int64_t>& point, bool* holds) {
  const std::vector<int64_t> logits = EvaluateCodes(net, point);
  double best = std::numeric_limits<double>::infinity();
  bool any = false;
  for (const CodeClause& clause : region.clauses) {
    double m = clause.Margin(logits);
    // Margins are doubles and the true ones integers: near 0 the exact test decides.
    if (m <= 0.5 && clause.Holds(logits)) {
      any = true;
      m = std::min(m, -0.5);
    }
    best = std::min(best, m);
  }
  if (holds) *holds = any;
  return best;
}

std::optional<std::vector<int64_t>> Falsify(const CodeNetwork& net, const CodeRegion& region,
                                            const CodeBox& box, const FalsifyBudget& budget,
                                            std::mt19937_64& rng, int64_t& evaluated) {
  const int n = static_cast<int>(box.lo.size());
  std::vector<std::pair<double, std::vector<int64_t>>> seen;
  auto try_point = [&](const std::vector<int64_t>& p) {
    ++evaluated;
    bool holds = false;
    const double m = RegionMargin(net, region, p, &holds);
    seen.push_back({m, p});
    return holds;
  };
  std::vector<int64_t> p(n);
  for (int i = 0; i < n; ++i)
    p[i] = static_cast<int64_t>(box.lo[i] + std::floor((box.hi[i] - box.lo[i]) / 2));
  if (try_point(p)) return p;
  const int64_t corners = n < 20 ? (int64_t{1} << n) : INT64_MAX;
  for (int64_t c = 0; c < std::min<int64_t>(corners, budget.max_corners); ++c) {
    const int64_t mask = corners <= budget.max_corners ? c : static_cast<int64_t>(rng());
    for (int i = 0; i < n; ++i)
      p[i] = static_cast<int64_t>(((mask >> (i % 63)) & 1) ? box.hi[i] : box.lo[i]);
    if (try_point(p)) return p;
  }
  for (int k = 0; k < budget.random_points; ++k) {
    for (int i = 0; i < n; ++i) {
      const uint64_t width = static_cast<uint64_t>(box.hi[i] - box.lo[i]) + 1;
      p[i] = static_cast<int64_t>(box.lo[i]) + static_cast<int64_t>(rng() % width);
    }
    if (try_point(p)) return p;
  }
  // Coordinate search from the best points: along each coordinate, steps of halving size in
  // both directions; keep any improvement of the margin.
  std::sort(seen.begin(), seen.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::vector<int64_t>> starts;
  for (int s = 0; s < budget.searches && s < static_cast<int>(seen.size()); ++s)
    starts.push_back(seen[s].second);
  for (std::vector<int64_t>& x : starts) {
    double best = RegionMargin(net, region, x);
    for (int round = 0; round < budget.search_rounds; ++round) {
      bool improved = false;
      for (int i = 0; i < n; ++i) {
        int64_t step = static_cast<int64_t>(box.hi[i] - box.lo[i] + 1) / 2;
        while (step >= 1) {
          bool moved = false;
          for (int64_t dir : {-step, step}) {
            const int64_t v = x[i] + dir;
            if (v < box.lo[i] || v > box.hi[i]) continue;
            std::vector<int64_t> y = x;
            y[i] = v;
            ++evaluated;
            bool holds = false;
            const double m = RegionMargin(net, region, y, &holds);
            if (holds) return y;
            if (m < best) {
              best = m;
              x = y;
              moved = improved = true;
              break;
            }
          }
          if (!moved) step /= 2;
        }
      }
      if (!improved) break;
    }
  }
  return std::nullopt;
}

}  // namespace qrepair
