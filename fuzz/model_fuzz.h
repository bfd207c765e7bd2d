// Runs what a loaded network must survive: forward passes on a few inputs, when the network is
// small enough for a fuzzer iteration (at most ~10^7 multiply-adds).
#pragma once

#include <cstdint>

#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"

namespace qrepair::fuzz {

constexpr int64_t kMaxWork = 10'000'000;

template <typename Layers>
bool Small(const Shape& input, const Layers& layers) {
  int64_t work = input.Size();
  for (const auto& layer : layers) {
    int64_t fan_in =
        layer.kind == LayerKind::kConv2d
            ? int64_t{layer.input_shape.channels} * layer.window.kernel_h * layer.window.kernel_w
            : (layer.kind == LayerKind::kDense ? layer.input_shape.Size() : 1);
    if (layer.kind == LayerKind::kMaxPool || layer.kind == LayerKind::kAvgPool) {
      fan_in = int64_t{layer.window.kernel_h} * layer.window.kernel_w;
    }
    work += layer.output_shape.Size() * fan_in;
    if (work > kMaxWork) return false;
  }
  return true;
}

// Zeros, ones and alternating +-100: inside, at and beyond the usual input ranges.
inline FloatBatch Probe(int64_t features) {
  FloatBatch x(features, 3);
  for (int64_t i = 0; i < features; ++i) {
    x(i, 0) = 0.0f;
    x(i, 1) = 1.0f;
    x(i, 2) = (i % 2 ? 100.0f : -100.0f);
  }
  return x;
}

inline void ExerciseFloat(const Network& network) {
  if (!Small(network.input_shape, network.layers)) return;
  ForwardFloat(network, Probe(network.input_shape.Size()));
}

inline void ExerciseQuantized(const QuantizedNetwork& network) {
  if (!Small(network.input_shape, network.layers)) return;
  FloatBatch x = Probe(network.input_shape.Size());
  if (network.float_activations) {
    ForwardWeightsOnly(network, x);
  } else {
    ForwardInteger(network, QuantizeInput(network, x));
  }
}

}  // namespace qrepair::fuzz
