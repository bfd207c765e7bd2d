// The verifier's network value (code_network.h), built from a QuantizedNetwork.
#include "verify/code_network.h"

#include <algorithm>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"

namespace qrepair {

int64_t CodeLayer::Apply(int row, int64_t acc) const {
  if (source == nullptr) return std::max<int64_t>(acc, 0) + functions[row].zero_point;
  return RequantizeUnit(*source, unit[row], acc);
}

namespace {

// A linear layer as dense rows: column j of W is acc(e_j) - acc(0) and b = acc(0), read from
// the reference accumulators on the centered codes x - z_in exactly as the pass forms them (so
// convolution padding, layouts and the input zero point are the pass's own).
CodeLayer LinearRows(const QuantLayer& q) {
  CodeLayer layer;
  layer.name = q.name;
  layer.inputs = static_cast<int>(q.input_shape.Size());
  layer.outputs = static_cast<int>(q.output_shape.Size());
  const int32_t zp = static_cast<int32_t>(q.input.zero_point);
  CodeBatch basis = CodeBatch::Constant(layer.inputs, layer.inputs + 1, -zp);
  for (int j = 0; j < layer.inputs; ++j) basis(j, j + 1) += 1;
  Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic> acc = LinearAccumulators(q, basis);
  layer.weights.resize(layer.outputs, layer.inputs);
  layer.bias.resize(layer.outputs);
  const int64_t positions = int64_t{q.output_shape.height} * q.output_shape.width;
  layer.source = &q;
  for (int r = 0; r < layer.outputs; ++r) {
    layer.bias[r] = static_cast<double>(acc(r, 0));
    for (int j = 0; j < layer.inputs; ++j)
      layer.weights(r, j) = static_cast<double>(acc(r, j + 1) - acc(r, 0));
    const int u = static_cast<int>(r / positions);
    layer.unit.push_back(u);
    CodeFunction f;
    f.activation = q.activation;
    f.multiplier = q.requant[u].Value();
    f.rounding_error = RequantizeErrorBound(q.rounding, q.requant[u]);
    f.exact_limit = RequantizeExactLimit(q.rounding, q.requant[u]);
    if (q.activation == QActivation::kLeakyRelu) {
      f.multiplier_neg = q.requant_neg[u].Value();
      f.rounding_error =
          std::max(f.rounding_error, RequantizeErrorBound(q.rounding, q.requant_neg[u]));
      f.exact_limit = std::min(f.exact_limit, RequantizeExactLimit(q.rounding, q.requant_neg[u]));
    }
    f.zero_point = q.output.zero_point;
    f.out_min = q.output.Min();
    f.out_max = q.output.Max();
    layer.functions.push_back(f);
  }
  return layer;
}

// Real max(x, 0) on codes is max(x, z): the row's accumulator is the centered code x - z.
CodeLayer StandaloneRelu(const QuantLayer& q) {
  CodeLayer layer;
  layer.name = q.name;
  layer.inputs = layer.outputs = static_cast<int>(q.input_shape.Size());
  layer.weights = RowMatrix::Identity(layer.inputs, layer.inputs);
  layer.bias = Eigen::VectorXd::Constant(layer.inputs, -static_cast<double>(q.input.zero_point));
  CodeFunction f;
  f.activation = QActivation::kRelu;
  f.multiplier = 1;
  f.zero_point = q.input.zero_point;
  f.rounding_error = 0;  // no rounding
  f.out_min = q.input.zero_point;
  f.out_max = int64_t{1} << 53;  // no saturation: codes pass through
  layer.functions.assign(layer.outputs, f);
  layer.unit.assign(layer.outputs, 0);
  return layer;
}

}  // namespace

CodeNetwork BuildCodeNetwork(const QuantizedNetwork& network, const std::string& source) {
  if (network.float_activations) {
    throw BadInput(source, "", "the verifier needs integer activations (weights-only network)");
  }
  for (float d : network.input_divisor) {
    if (!(d > 0)) {
      throw BadInput(source, "input normalization",
                     "the verifier needs positive divisors (a monotone input coding)");
    }
  }
  CodeNetwork net;
  net.inputs = static_cast<int>(network.input_shape.Size());
  net.input_min = network.input.Min();
  net.input_max = network.input.Max();
  auto split_signs = [](CodeLayer& layer) {
    layer.weights_pos = layer.weights.cwiseMax(0.0);
    layer.weights_neg = layer.weights.cwiseMin(0.0);
    layer.weights_abs = layer.weights.cwiseAbs();
  };
  for (const QuantLayer& q : network.layers) {
    if (q.IsLinear()) {
      CheckIntegerRanges(q, source, "layer '" + q.name + "'");
      net.layers.push_back(LinearRows(q));
      split_signs(net.layers.back());
    } else if (q.kind == LayerKind::kRelu) {
      net.layers.push_back(StandaloneRelu(q));
      split_signs(net.layers.back());
    } else if (q.kind != LayerKind::kFlatten) {
      throw BadInput(source, "layer '" + q.name + "'",
                     std::string("the verifier does not handle ") + LayerKindName(q.kind) +
                         " layers yet (dense, conv, relu and flatten)");
    }
  }
  if (net.layers.empty()) throw BadInput(source, "", "the network has no linear layer");
  const int logit = network.LogitLayer();
  double scale = network.layers[logit].output.scale;
  if (network.decision == Decision::kArgmin) scale = -scale;
  net.output_scale = scale;
  net.output_zero_point = network.layers[logit].output.zero_point;
  return net;
}

std::vector<int64_t> EvaluateCodes(const CodeNetwork& net, const std::vector<int64_t>& input,
                                   std::vector<std::vector<int64_t>>* trace) {
  if (trace) trace->clear();
  Eigen::VectorXd x(input.size());
  for (size_t i = 0; i < input.size(); ++i) x[i] = static_cast<double>(input[i]);
  std::vector<int64_t> codes;
  for (const CodeLayer& layer : net.layers) {
    Eigen::VectorXd acc = layer.weights * x + layer.bias;  // exact: integers below 2^53
    codes.resize(layer.outputs);
    x.resize(layer.outputs);
    for (int r = 0; r < layer.outputs; ++r) {
      codes[r] = layer.Apply(r, static_cast<int64_t>(acc[r]));
      x[r] = static_cast<double>(codes[r]);
    }
    if (trace) trace->push_back(codes);
  }
  return codes;
}

}  // namespace qrepair
