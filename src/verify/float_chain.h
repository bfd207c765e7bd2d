// The float network as the equivalence check sees it: a chain of affine layers over reals, each
// row followed by ReLU or nothing, with the model's float32 weights and biases as exact values
// (every float32 is a double). Its meaning is the network in exact real arithmetic; the float32
// pass (quant/forward.h) computes it with rounding. Convolutions become dense rows (read off the
// float32 pass on unit vectors with the bias removed: one product by 1 per entry, exact), Flatten
// disappears. Other layers (pooling, normalization, LeakyReLU, sigmoid) are refused.
//
// Bounds reuse the back-substitution of symbolic_bounds.h: its error charges assume only that
// weights, biases and the lines' slopes are doubles, not that they are integers. The intervals
// here are charged for rounding (Higham's gamma bound, as there) and rounded outward, and an
// unstable ReLU gets DeepPoly's lines (Singh et al. POPL'19): the chord above, slope 0 or 1 below.
#pragma once

#include <gmpxx.h>

#include <cstdint>
#include <string>
#include <vector>

#include "qrepair/model/network.h"
#include "verify/code_network.h"
#include "verify/interval_bounds.h"

namespace qrepair {

struct FloatChain {
  CodeNetwork net;         // weights, biases and shapes; `functions` unused
  std::vector<bool> relu;  // per layer: ReLU after the affine map
};

// Throws Error(kBadInput) naming `source` for a layer the chain does not handle.
FloatChain BuildFloatChain(const Network& network, const std::string& source);

// kChordThroughZero: an unsound variant for the soundness-mutation test (an unstable ReLU's
// upper line drawn through the origin, below max(t, 0) near the box's upper end).
enum class FloatBoundMutation { kNone, kChordThroughZero };

// Bounds of every layer's outputs on a box of real inputs (intervals, then back-substitution for
// the ReLU rows that the intervals leave unstable); sound for exact real arithmetic.
void PropagateFloatBounds(const FloatChain& chain, const CodeBox& input,
                          std::vector<LayerBounds>& bounds, uint64_t& work,
                          FloatBoundMutation mutation = FloatBoundMutation::kNone);

// The outputs in exact rational arithmetic at one input.
std::vector<mpq_class> ExactOutputs(const FloatChain& chain, const std::vector<float>& input);

// argmax with ties to the lowest index (the passes' rule).
int ExactTop1(const std::vector<mpq_class>& outputs);

}  // namespace qrepair
