// Private to the int8 ONNX importer: the state machine that reads a QDQ chain node by node and
// builds the integer layers (the accepted patterns are listed in onnx_qdq_import.h).
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <string>
#include <vector>

#include "io/onnx_ops.h"
#include "io/onnx_qdq_params.h"
#include "qrepair/model/quantized_network.h"

namespace qrepair {
namespace onnx_import {

class QdqImporter {
 public:
  // `logit_scale` is the model's "logit_scale" metadata (0 when absent): the scale of int32
  // logits, which an ONNX graph does not state otherwise.
  QdqImporter(std::string path, double logit_scale);

  // Reads the DequantizeLinear `node` of a constant and adds its output to `constants` as
  // floats holding the integer codes (for the float loader's shape checks).
  void FoldConstant(const onnx::NodeProto& node, const std::string& label, ConstantMap& constants);
  // Finds the graph's input; returns its name. `constants` must outlive the importer.
  std::string Start(const onnx::GraphProto& graph, const ConstantMap& constants);
  void Visit(const OpNode& op);
  // The network, once the chain has ended.
  QuantizedNetwork Finish();

 private:
  // What the chain's current tensor holds.
  enum class Phase {
    kFloatInput,   // the float input (before its QuantizeLinear)
    kCodes,        // integer codes (a QuantizeLinear's output)
    kDequantized,  // DequantizeLinear(codes): reals that are exactly code_'s values
    kAccumulator,  // a linear node's float output, waiting for its QuantizeLinear
    kEnded,        // after a final Neg
  };

  void Quantize(const OpNode& op);
  void Dequantize(const OpNode& op);
  void Clip(const OpNode& op);
  void Linear(const OpNode& op);
  void Bias(const OpNode& op, const std::string& tensor, QuantLayer& layer);
  void Activation(const OpNode& op);
  void PassCodes(const OpNode& op);
  // Finishes the pending linear layer with its output code.
  void FinishLinear(const ActivationCode& output);
  // Turns the float loader's layers [first, end) into code-passing integer layers.
  void AddPassingLayers(const OpNode& op, size_t first, size_t end);
  // The code `params` give, narrowed by a pending Clip.
  ActivationCode QuantizedCode(const OpNode& op, const QdqParams& params);

  std::string path_;
  double logit_scale_ = 0.0;
  ImportState state_;  // the float loader's view: shapes, dims, geometry of each layer
  std::map<std::string, DequantizedConstant> dequantized_;
  QuantizedNetwork net_;
  Phase phase_ = Phase::kFloatInput;
  ActivationCode code_;         // the codes of the current tensor
  std::string code_place_;      // the QuantizeLinear that made them
  int pending_ = -1;            // the linear layer waiting for its output code
  std::string pending_place_;   // its node
  bool awaiting_bias_ = false;  // a MatMul, whose bias comes in an Add
  size_t codes_layers_ = 0;     // net_.layers.size() when code_ was last set by a Q
  bool has_clip_ = false;       // a Clip waits for its QuantizeLinear
  double clip_lo_ = 0.0, clip_hi_ = 0.0;
  std::string clip_place_;
  Phase ended_from_ = Phase::kFloatInput;  // the phase a final Neg ended
};

// The layer name of a node: qrepair's export names nodes "<index>_<layer>/<Op>", and the
// layer's name comes back from that; other names are kept.
std::string QdqLayerName(const std::string& label);
// "node 'NAME' (OpType)".
std::string QdqPlace(const OpNode& op);

}  // namespace onnx_import
}  // namespace qrepair
