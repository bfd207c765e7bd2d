// Which float tensors a quantized network's layers stand for: the float counterpart of a
// quantized layer, the tensor its codes represent, and the float network a weights-only
// quantized network computes.
#pragma once

#include <vector>

#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"

namespace qrepair {

// Index of the float layer a quantized layer came from: same name, kind and weight count.
// Throws Error(kBadInput) when there is none (a quantized JSON whose embedded float network
// does not match it).
int FindFloatLayer(const Network& float_net, const QuantLayer& layer);

// The layer whose output a linear layer's activation is, after its activation function: in the
// quantized network `k` itself (activation fused) or, in a weights-only network, the ReLU or
// LeakyReLU right after it; in the float network the ReLU or LeakyReLU after its counterpart.
int QuantizedActivationLayer(const QuantizedNetwork& qnet, int k);
int FloatActivationLayer(const Network& float_net, const QuantLayer& layer);

// Per unit of linear layer `k`: the mean, over the positions of the next linear layer's input
// that the unit feeds, of sum_j |W_next[j][position]| (float weights); 1 for every unit when no
// linear layer follows or the layers do not line up channel by channel.
std::vector<double> DownstreamWeights(const QuantizedNetwork& qnet, const Network& float_net,
                                      int k);

}  // namespace qrepair
