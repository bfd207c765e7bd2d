// Starting points for repair: re-derives a quantized network's integer weights layer by layer
// (round to nearest, GPTQ, or GPTQ towards the float network's outputs).
#pragma once

#include <functional>
#include <string>

#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"

namespace qrepair {

enum class InitMethod {
  kRtn,        // round to nearest: the network as QuantizeNetwork made it
  kGptq,       // GPTQ: minimize ||W_q X - W X||, X the quantized network's layer inputs
  kGptqFloat,  // minimize ||W_q X + b_q - (W X_f + b)||, X_f the float network's layer inputs
};

// "rtn", "gptq" or "gptq-float". Throws Error(kUsage) naming `flag` otherwise.
InitMethod ParseInitMethod(const std::string& name, const std::string& flag = "--init");
const char* InitMethodName(InitMethod method);

// Re-derives the integer weights and biases of every linear layer of `qnet` (quantized from
// `float_net` by QuantizeNetwork), first layer first, each calibrated on the inputs the
// already re-derived layers before it produce on `calibration` (network inputs, one column per
// sample). Scales, multipliers and everything else are kept, so results compare with RTN, except
// in layers whose config scale rule is "mse": there gptq and gptq-float also choose the weight
// scales (the max-abs scale times a factor in [0.2, 1] with the smallest error of the fit below;
// src/quant/layer_fit.h), and the multipliers and the logits' int32 scale follow them.
//
// Per layer, with X its inputs in real units (integer codes times their scale; for a
// convolution, im2col columns, at most 200k (sample, position) columns taken at a fixed
// stride) and H = X X^T + 1% of its mean diagonal:
//   gptq        GPTQ-rounds the float weights W with H; biases b_q = rhe(b / (s_w s_x)).
//   gptq-float  solves [W* b*] = argmin ||W* X + b* - (W X_f + b)|| (ridge towards the float
//               [W b], damping as in H, X augmented with a row of ones), then GPTQ-rounds W*
//               with the augmented H, columns by descending H_ii (act-order); the bias column
//               is not rounded to the weight grid but absorbs the rounding error and is rounded
//               to the bias grid s_w s_x at the end. On the logits the target is the top-1
//               box around W X_f + b (the float top class as high, the others as low), before
//               a fused ReLU the ReLU box (any output <= 0 where W X_f + b <= 0): three
//               solve/round rounds, each moving the target to the rounded outputs clamped into
//               the box.
// GPTQ is greedy and clamps to the grid, so each unit (row) keeps its RTN weights and bias when
// they fit its target (its box) on X better: per layer, the error is never above RTN's on the
// same X.
// Weights are clamped to [WeightMin, WeightMax], biases to int32. Layers with more than 8192
// inputs per unit keep their RTN weights (H would not fit). Deterministic. In weights-only mode
// (float activations) X are the float activations of the dequantized network and biases stay
// float. `qnet` is not modified. Throws InternalError if `qnet` does not match `float_net`.
// `should_stop` (SIGINT/SIGTERM, the job's deadline) is polled between layers and, inside a
// layer, between pieces of at most about 10^10 floating-point operations (under a second on one
// core; only the Cholesky factorizations of H, d^3/3 each, are not split: about 7 s at the
// largest fan-in, 8192). Once it returns true, the layers finished so far are kept and the
// others keep the weights they had in `qnet`; `summary` says so.
// The calibration batch is carried from linear layer to linear layer `chunk_samples` samples at
// a time (memory), which does not change the result.
struct InitSummary {
  int layers = 0;        // linear layers
  int rerounded = 0;     // of them, finished (a layer kept at RTN for its fan-in counts too)
  bool complete = true;  // false: should_stop ended the init at layer `stopped_at`
  std::string stopped_at;
};
QuantizedNetwork InitializeWeights(const Network& float_net, const QuantizedNetwork& qnet,
                                   const FloatBatch& calibration, InitMethod method,
                                   const std::function<bool()>& should_stop = {},
                                   int64_t chunk_samples = 1024, InitSummary* summary = nullptr);

// Calibration augmentation for image inputs: every calibration image is added again shifted by
// one pixel in 4 directions (or 8 with the diagonals), the edge row/column repeated. The layer
// fits then see more of the input distribution than the repair set's images alone; nothing is
// labelled, the targets are still the float network's own outputs. Measured in
// docs/benchmarks.md (bench/init_bench, QR_AUG).
struct Augmentation {
  int shifts = 0;  // 0 (none), 4 or 8
  int height = 0;  // image size; 0 = the network's input height and width
  int width = 0;
  bool automatic = false;  // "auto": ResolveAugmentation decides from the data and the network
};

// "auto", "none", "shift", "shift8", "shift:HxW" or "shift8:HxW" (for flat inputs, e.g. 28x28).
// Throws Error(kUsage) naming `flag`.
Augmentation ParseAugmentation(const std::string& text, const std::string& flag = "--augment");
std::string AugmentationName(const Augmentation& a);

// What "auto" means for these data and this network: shift8 when the samples are images (the
// network's input is C x H x W with H, W >= 2, or the data file gives each sample as H x W or
// C x H x W: IDX, .npy), none otherwise (CSV rows, flat rows, ACAS Xu's five numbers). `why`
// receives the reason, for the report. An explicit choice comes back unchanged ("given").
Augmentation ResolveAugmentation(const Augmentation& a, const std::vector<int64_t>& sample_shape,
                                 const Shape& input, std::string* why);

// `calibration` (one column per sample, network inputs of shape `input`) with the shifted
// copies appended after the originals. Throws Error(kUsage) when the input is not an image of
// the given size.
FloatBatch AugmentCalibration(const FloatBatch& calibration, const Augmentation& a,
                              const Shape& input, const std::string& flag = "--augment");

}  // namespace qrepair
