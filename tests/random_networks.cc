// Random networks for property tests.
#include "random_networks.h"

namespace qrepair::testing {

namespace {
int Uniform(std::mt19937_64& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}

Layer DenseLayer(std::mt19937_64& rng, int in, int out, const std::string& name) {
  std::normal_distribution<float> n(0.0f, 1.0f / std::sqrt(static_cast<float>(in)));
  Layer l;
  l.kind = LayerKind::kDense;
  l.name = name;
  l.weights.resize(static_cast<size_t>(in) * out);
  for (float& w : l.weights) w = n(rng);
  l.bias.resize(out);
  for (float& b : l.bias) b = 0.1f * n(rng);
  return l;
}
}  // namespace

RandomCase MakeRandomCase(std::mt19937_64& rng, int samples, bool conv) {
  RandomCase c;
  Network& net = c.network;
  net.name = "random";
  int index = 0;
  auto name = [&](const char* p) { return std::string(p) + std::to_string(index++); };
  if (conv) {
    net.input_shape = Shape{Uniform(rng, 1, 2), Uniform(rng, 5, 9), Uniform(rng, 5, 9)};
    Layer c1;
    c1.kind = LayerKind::kConv2d;
    c1.name = name("conv");
    int out_c = Uniform(rng, 1, 4);
    c1.window =
        Window{Uniform(rng, 1, 3), Uniform(rng, 1, 3), Uniform(rng, 1, 2), Uniform(rng, 1, 2),
               Uniform(rng, 0, 1), Uniform(rng, 0, 1), Uniform(rng, 0, 1), Uniform(rng, 0, 1)};
    int fan_in = net.input_shape.channels * c1.window.kernel_h * c1.window.kernel_w;
    std::normal_distribution<float> n(0.0f, 1.0f / std::sqrt(static_cast<float>(fan_in)));
    c1.weights.resize(static_cast<size_t>(out_c) * fan_in);
    for (float& w : c1.weights) w = n(rng);
    c1.bias.resize(out_c);
    for (float& b : c1.bias) b = 0.1f * n(rng);
    net.layers.push_back(c1);
    Layer act;
    act.kind = Uniform(rng, 0, 3) == 0 ? LayerKind::kLeakyRelu : LayerKind::kRelu;
    act.alpha = 0.1f;
    act.name = name("act");
    net.layers.push_back(act);
    int pool = Uniform(rng, 0, 2);
    if (pool > 0) {
      Layer p;
      p.kind = pool == 1 ? LayerKind::kMaxPool : LayerKind::kAvgPool;
      p.name = name("pool");
      p.window = Window{2, 2, Uniform(rng, 1, 2), Uniform(rng, 1, 2),
                        0, 0, Uniform(rng, 0, 1), Uniform(rng, 0, 1)};
      net.layers.push_back(p);
    }
    Layer f;
    f.kind = LayerKind::kFlatten;
    f.name = name("flatten");
    net.layers.push_back(f);
  } else {
    net.input_shape = Shape{Uniform(rng, 2, 12), 1, 1};
  }
  if (!net.layers.empty()) ValidateNetwork(net, "random");
  int width = static_cast<int>(net.OutputShape().Size());
  int hidden = Uniform(rng, 0, 2);
  for (int h = 0; h < hidden; ++h) {
    int out = Uniform(rng, 2, 10);
    net.layers.push_back(DenseLayer(rng, width, out, name("dense")));
    Layer r;
    r.kind = LayerKind::kRelu;
    r.name = name("relu");
    net.layers.push_back(r);
    width = out;
  }
  net.layers.push_back(DenseLayer(rng, width, Uniform(rng, 2, 5), name("logits")));
  ValidateNetwork(net, "random");

  QuantConfig config;
  config.defaults.weight_bits = Uniform(rng, 2, 8);
  config.defaults.granularity =
      Uniform(rng, 0, 1) ? Granularity::kPerChannel : Granularity::kPerTensor;
  config.defaults.scale_rule =
      Uniform(rng, 0, 3) == 0 ? ScaleRule::kPowerOfTwo : ScaleRule::kMaxAbs;
  config.activation_bits = Uniform(rng, 3, 8);
  c.inputs.resize(net.input_shape.Size(), samples);
  std::uniform_real_distribution<float> u(Uniform(rng, 0, 1) ? -1.0f : 0.0f, 1.0f);
  for (int64_t i = 0; i < c.inputs.size(); ++i) c.inputs.data()[i] = u(rng);
  c.quantized = QuantizeNetwork(net, config, c.inputs, "random");
  return c;
}

void PerturbWeights(QuantizedNetwork& q, std::mt19937_64& rng) {
  for (QuantLayer& l : q.layers) {
    if (!l.IsLinear()) continue;
    for (int32_t& w : l.weights_q) {
      if (Uniform(rng, 0, 3) == 0)
        w = Uniform(rng, static_cast<int>(l.WeightMin()), static_cast<int>(l.WeightMax()));
    }
    for (int64_t& b : l.bias_q) {
      if (Uniform(rng, 0, 3) == 0) b += Uniform(rng, -50, 50);
    }
  }
}

}  // namespace qrepair::testing
