// Test-only entry points of the per-neuron encoder (smt_encoder.cc), kept out of the public
// solver header.
#pragma once

#include <vector>

#include "qrepair/solver/neuron_solver.h"

namespace qrepair {

// Each row's encoded "row is right" constraint evaluated by Z3 with the deltas fixed to `patch`
// (true/false per row), to check an encoding against the exact integer semantics.
std::vector<bool> EvaluateEncodedRows(const NeuronRepairProblem& problem, const NeuronPatch& patch,
                                      Encoding encoding);

}  // namespace qrepair
