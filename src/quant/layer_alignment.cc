// Float counterparts of quantized layers, and the tensors the integer codes represent.
#include "quant/layer_alignment.h"

#include <Eigen/Core>

#include "qrepair/error.h"

namespace qrepair {

namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

bool IsActivation(LayerKind kind) {
  return kind == LayerKind::kRelu || kind == LayerKind::kLeakyRelu;
}

}  // namespace

int FindFloatLayer(const Network& float_net, const QuantLayer& layer) {
  for (size_t j = 0; j < float_net.layers.size(); ++j) {
    const Layer& l = float_net.layers[j];
    if (l.name != layer.name) continue;
    if (l.kind != layer.kind || l.weights.size() != layer.weights_q.size()) break;
    return static_cast<int>(j);
  }
  throw Error(ExitCode::kBadInput, "quantized layer '" + layer.name +
                                       "': the float network has no layer of that name, kind and "
                                       "weight count to compare it with");
}

int QuantizedActivationLayer(const QuantizedNetwork& qnet, int k) {
  const QuantLayer& q = qnet.layers[k];
  if (q.activation == QActivation::kNone && k + 1 < static_cast<int>(qnet.layers.size()) &&
      IsActivation(qnet.layers[k + 1].kind)) {
    return k + 1;
  }
  return k;
}

int FloatActivationLayer(const Network& float_net, const QuantLayer& layer) {
  int j = FindFloatLayer(float_net, layer);
  if (j + 1 < static_cast<int>(float_net.layers.size()) &&
      IsActivation(float_net.layers[j + 1].kind)) {
    ++j;
  }
  return j;
}

std::vector<double> DownstreamWeights(const QuantizedNetwork& qnet, const Network& float_net,
                                      int k) {
  const int units = qnet.layers[k].Units();
  std::vector<double> weight(units, 1.0);
  int next = k + 1;
  while (next < static_cast<int>(qnet.layers.size()) && !qnet.layers[next].IsLinear()) ++next;
  if (next >= static_cast<int>(qnet.layers.size())) return weight;
  const QuantLayer& q = qnet.layers[next];
  const Layer& f = float_net.layers[FindFloatLayer(float_net, q)];
  const int64_t fan_in = q.FanIn();
  Eigen::Map<const RowMajorF> w(f.weights.data(), q.Units(), fan_in);
  Eigen::RowVectorXd column_sums = w.cwiseAbs().colwise().sum().cast<double>();
  int64_t block = 0;  // columns of one row fed by one unit of layer k
  if (q.kind == LayerKind::kDense && fan_in % units == 0) block = fan_in / units;
  if (q.kind == LayerKind::kConv2d && q.input_shape.channels == units) {
    block = int64_t{q.window.kernel_h} * q.window.kernel_w;
  }
  if (block == 0) return weight;  // unusual reshaping between the layers: no weighting
  // A dense unit's value is read once per row; a channel's position by every kernel tap.
  const double positions = q.kind == LayerKind::kDense ? static_cast<double>(block) : 1.0;
  for (int u = 0; u < units; ++u)
    weight[u] = column_sums.segment(u * block, block).sum() / positions;
  return weight;
}

}  // namespace qrepair
