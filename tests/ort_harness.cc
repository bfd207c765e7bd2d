// ONNX Runtime harness: float32 files in and out of tests/ort/run_model.js.
#include "ort_harness.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

#include "qrepair/export/onnx_export.h"

namespace qrepair::testing {

namespace {

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

std::string OrtUnavailableReason(const std::string& ort_dir) {
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  std::string probe =
      "cd " + Quote(ort_dir) + " && node -e \"require('onnxruntime-node')\" > /dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) {
    return "onnxruntime-node is not installed in " + ort_dir + " (run scripts/install-ort.sh)";
  }
  return "";
}

FloatBatch RunOrt(const std::string& ort_dir, const std::string& work_dir,
                  const std::string& model_path, const QuantizedNetwork& network,
                  const FloatBatch& inputs, OrtGraph graph) {
  const std::string in_path = work_dir + "/ort_input.f32";
  const std::string out_path = work_dir + "/ort_output.f32";
  {
    std::ofstream in(in_path, std::ios::binary);
    in.write(reinterpret_cast<const char*>(inputs.data()),
             static_cast<std::streamsize>(inputs.size() * sizeof(float)));
    if (!in) throw std::runtime_error("cannot write " + in_path);
  }
  std::string dims;
  for (int64_t d : OnnxInputDims(network)) dims += (dims.empty() ? "" : ",") + std::to_string(d);
  std::string command = "node " + Quote(ort_dir + "/run_model.js") + " " + Quote(model_path) + " " +
                        Quote(in_path) + " " + Quote(out_path) + " " + dims +
                        (graph == OrtGraph::kUnfused ? " unfused" : "");
  if (std::system(command.c_str()) != 0)
    throw std::runtime_error("ONNX Runtime failed: " + command);
  const int64_t classes = network.NumClasses();
  FloatBatch logits(classes, inputs.cols());
  std::ifstream out(out_path, std::ios::binary);
  out.read(reinterpret_cast<char*>(logits.data()),
           static_cast<std::streamsize>(logits.size() * sizeof(float)));
  if (out.gcount() != static_cast<std::streamsize>(logits.size() * sizeof(float)) ||
      out.peek() != EOF) {
    throw std::runtime_error(out_path + ": expected " + std::to_string(logits.size()) + " floats");
  }
  return logits;
}

bool OrtInt8KernelsMaySaturate(int weight_bits, int activation_bits) {
  if (weight_bits <= 7 || activation_bits > 8) return false;  // 9..16-bit codes run as float ops
#if defined(__x86_64__) && defined(__GNUC__)
  // CPUID leaf 7 (Intel SDM vol. 2A, "CPUID"): sub-leaf 0 ECX bit 11 is AVX512_VNNI, sub-leaf 1
  // EAX bit 4 is AVX-VNNI. Read directly: clang's __builtin_cpu_supports knows no "avxvnni".
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return true;
  const bool avx512_vnni = (ecx >> 11) & 1U;
  bool avx_vnni = false;
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0) avx_vnni = (eax >> 4) & 1U;
  return !avx512_vnni && !avx_vnni;
#else
  return false;
#endif
}

OrtComparison CompareWithReference(const QuantizedNetwork& network, const FloatBatch& inputs,
                                   const FloatBatch& ort_logits, const std::vector<int>& labels) {
  // Reference logits in quanta (doubles: int32 logits do not all fit in a float).
  Eigen::MatrixXd reference;
  std::vector<int> ref_top1;
  if (network.float_activations) {
    FloatBatch logits = ForwardWeightsOnly(network, inputs);
    reference = logits.cast<double>();
    ref_top1 = ArgmaxColumns(logits);
  } else {
    CodeBatch logits = ForwardInteger(network, QuantizeInput(network, inputs));
    reference = logits.cast<double>();
    ref_top1 = ArgmaxColumns(logits);
  }
  const double scale =
      network.float_activations ? 1.0 : network.layers[network.LogitLayer()].output.scale;
  std::vector<int> ort_top1 = ArgmaxColumns(ort_logits);
  OrtComparison c;
  c.samples = inputs.cols();
  for (int64_t s = 0; s < c.samples; ++s) {
    if (ref_top1[s] == ort_top1[s]) {
      ++c.top1_agree;
    } else {
      c.disagreements.push_back(s);
    }
    if (!labels.empty()) {
      c.ort_correct += ort_top1[s] == labels[s];
      c.reference_correct += ref_top1[s] == labels[s];
    }
    for (int64_t k = 0; k < reference.rows(); ++k) {
      double diff = std::fabs(static_cast<double>(ort_logits(k, s)) / scale - reference(k, s));
      c.max_logit_diff = std::max(c.max_logit_diff, diff);
    }
  }
  return c;
}

}  // namespace qrepair::testing
