// Runs exported ONNX models in ONNX Runtime (onnxruntime-node, through tests/ort/run_model.js)
// and compares them with the reference integer pass. Shared by tests/ort_export_test.cc and
// bench/ort_agreement.cc.
#pragma once

#include <string>
#include <vector>

#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"

namespace qrepair::testing {

// Why ORT cannot run here ("" when it can): node missing, or onnxruntime-node not installed
// in `ort_dir` (scripts/install-ort.sh installs it).
std::string OrtUnavailableReason(const std::string& ort_dir);

// How ORT runs a QDQ model: kFused lets its graph optimizer fuse the Q/DQ pairs into its int8
// kernels (what a deployment gets); kUnfused runs the graph op by op (DequantizeLinear, float
// Gemm/Conv, QuantizeLinear), which checks the graph's meaning independently of the kernels.
enum class OrtGraph { kFused, kUnfused };

// Runs `model_path` on `inputs` (features x samples) and returns its output (classes x
// samples). Files go to `work_dir`. Throws std::runtime_error when node fails.
FloatBatch RunOrt(const std::string& ort_dir, const std::string& work_dir,
                  const std::string& model_path, const QuantizedNetwork& network,
                  const FloatBatch& inputs, OrtGraph graph = OrtGraph::kFused);

// Whether ORT's fused int8 kernels can saturate on this CPU for a network with these widths.
// Without VNNI, ORT's x86 u8s8 kernels multiply with vpmaddubsw, which saturates the sum of two
// uint8 x int8 products at int16: 255 * 127 * 2 = 64770 > 32767. With weights of at most 7 bits
// (|w| <= 63: 2 * 255 * 63 = 32130) or VNNI (vpdpbusd accumulates in int32) it cannot.
bool OrtInt8KernelsMaySaturate(int weight_bits, int activation_bits);

struct OrtComparison {
  int64_t samples = 0;
  int64_t top1_agree = 0;   // ORT top-1 == reference top-1
  int64_t ort_correct = 0;  // against labels (when given)
  int64_t reference_correct = 0;
  double max_logit_diff = 0;           // max |ORT logit / logit_scale - reference logit|, in quanta
  std::vector<int64_t> disagreements;  // sample indices
  double Agreement() const { return samples ? static_cast<double>(top1_agree) / samples : 0; }
};

// `ort_logits` from RunOrt; `labels` may be empty.
OrtComparison CompareWithReference(const QuantizedNetwork& network, const FloatBatch& inputs,
                                   const FloatBatch& ort_logits, const std::vector<int>& labels);

}  // namespace qrepair::testing
