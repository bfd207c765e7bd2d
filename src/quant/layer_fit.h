// One linear layer of the gptq / gptq-float inits re-derived towards its targets, and the
// "mse" scale rule's search of its weight scales (used by init.cc).
#pragma once

#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/init.h"
#include "quant/gptq.h"

namespace qrepair {

// What the quantized network computes at the current layer: codes, or floats (weights-only).
struct QuantState {
  CodeBatch codes;
  FloatBatch values;
};

// Re-derives the weights and biases of `q`, the quantized counterpart of float layer `f`, on the
// layer inputs `state` holds; `x_float` is the float network's input to it (gptq-float only).
//
// gptq-float fits the logits layer to the top-1 box and a layer with a fused ReLU to the ReLU
// box: solve towards the goal, round, move the goal to the rounded outputs clamped into the box,
// three times. The ReLU box, measured with bench/init_bench --extra on the seven cases (mean
// holdout agreement with float): +0.16 points without augmentation (99.03 -> 99.19), +0.07 with
// the halves swapped, +0.03 / +0.02 with --augment shift8; single cases move by -0.22 .. +0.38;
// the init takes 2-3x as long. GPTQ is greedy and clamps to the grid, so a few rows can end
// worse than round to nearest (seen on late MNIST layers and on tiny random ones): each row keeps
// the best of RTN and the rounds, by its squared distance to the targets (to the box).
//
// Under the "mse" scale rule the layer is fitted at the max-abs scale times 1.0, 0.9, ..., 0.2
// and then +-0.05 around the best (per row when per-channel), on at most 5000 of its columns,
// and the scales with the smallest error are kept (docs/benchmarks.md section 3); the logits'
// int32 code and the multipliers follow the new scales.
//
// `q` is written only once the layer is finished: `checkpoint` may throw to stop it.
void ReroundLayer(QuantLayer& q, const Layer& f, const QuantizedNetwork& qnet,
                  const QuantState& state, const FloatBatch* x_float, bool is_logits,
                  InitMethod method, const gptq::Checkpoint& checkpoint);

}  // namespace qrepair
