// Looks for counterexamples by evaluating code points: the box's corners and centre, seeded
// random points, and a coordinate search over codes that minimizes the clauses' margin
// (max over a clause's constraints of sum_j a_j y_j - bound: <= 0 means the clause holds).
// Every point it returns is only a candidate: the verifier confirms it with the reference pass.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "verify/code_network.h"
#include "verify/output_constraints.h"

namespace qrepair {

struct FalsifyBudget {
  int random_points = 64;
  int max_corners = 64;
  int searches = 3;        // coordinate searches from the best points found
  int search_rounds = 20;  // passes over the coordinates per search
};

// The smallest clause margin at a point (the region's margin); `holds`: some clause holds
// exactly there.
double RegionMargin(const CodeNetwork& net, const CodeRegion& region,
                    const std::vector<int64_t>& point, bool* holds = nullptr);

// A point of `box` where some clause holds exactly (CodeClause::Holds), or nullopt. `evaluated`
// counts the points evaluated.
std::optional<std::vector<int64_t>> Falsify(const CodeNetwork& net, const CodeRegion& region,
                                            const CodeBox& box, const FalsifyBudget& budget,
                                            std::mt19937_64& rng, int64_t& evaluated);

}  // namespace qrepair
