// One batched backward pass of the classification margin through a quantized network's layer
// structure, with the float network's weights and the quantized activations' ReLU masks.
#pragma once

#include <functional>
#include <vector>

#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"

namespace qrepair {

// For each sample s (a column) the margin is
//     m_s = y[target_s] - y[runner_up_s]
// where y is the output of the last layer. Going backwards, layer k maps the gradient with
// respect to its output, G_k = d m / d out_k, to the gradient with respect to its input:
//   dense       G_in = W^T (G_k * f'(out_k))          W: the float layer's weights (out x in)
//   convolution G_in = col2im(W^T (G_k * f'(out_k)))  per sample
//   ReLU        f'(out) = [out > 0]    (fused or not; the quantized output decides, which is
//   LeakyReLU   f'(out) = out >= 0 ? 1 : alpha        the straight-through estimate of the
//   Sigmoid     f'(out) = out (1 - out)                quantized network's own derivative)
//   max pool    the gradient goes to the window's first maximal input (as the quantized values
//               say), average pool spreads it evenly over the cells inside the input
//   flatten     unchanged
// Saturation and rounding are passed straight through.
struct MarginBackward {
  const QuantizedNetwork* network = nullptr;
  // Per layer of `network`: the float weights of a linear layer (same layout as weights_q),
  // nullptr for other layers.
  std::vector<const std::vector<float>*> float_weights;
  // Per layer: its output for this batch, dequantized (features x samples).
  const std::vector<FloatBatch>* outputs = nullptr;
};

// Runs the pass for the batch in `backward.outputs` and calls visit(k, G_k) for k from the last
// layer down to `stop_layer` (inclusive); G_k has the shape of outputs[k]. Layers below
// `stop_layer` are not visited and the gradient is not propagated into `stop_layer`'s input.
void BackwardMargin(const MarginBackward& backward, const std::vector<int>& target,
                    const std::vector<int>& runner_up, int stop_layer,
                    const std::function<void(int, const FloatBatch&)>& visit);

}  // namespace qrepair
