// Exported QDQ models in ONNX Runtime against the reference integer pass: random networks and
// the bundled Fashion-MNIST models. Skips when node or onnxruntime-node is missing
// (scripts/install-ort.sh installs it).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <random>

#include "ort_harness.h"
#include "qrepair/export/onnx_export.h"
#include "qrepair/io/dataset.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/quant/quantize.h"
#include "random_networks.h"
#include "temp_dir.h"

namespace qrepair {
namespace {

using testing::OrtComparison;
using testing::TempDir;

const std::string kOrtDir = std::string(QREPAIR_SOURCE_DIR) + "/tests/ort";
const char* kFashionImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const char* kFashionLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

#define SKIP_WITHOUT_ORT()                                       \
  do {                                                           \
    std::string reason = testing::OrtUnavailableReason(kOrtDir); \
    if (!reason.empty()) GTEST_SKIP() << reason;                 \
  } while (0)

OrtComparison ExportAndRun(const QuantizedNetwork& q, const Network& f, const FloatBatch& inputs,
                           const std::vector<int>& labels = {},
                           testing::OrtGraph graph = testing::OrtGraph::kFused) {
  TempDir dir("ort_export");
  std::string model = dir.Path("model.onnx");
  std::ofstream(model, std::ios::binary) << ExportOnnxQdq(q, f);
  FloatBatch logits = testing::RunOrt(kOrtDir, dir.path(), model, q, inputs, graph);
  return testing::CompareWithReference(q, inputs, logits, labels);
}

// Exports `cases` random networks (each adjusted by `adjust`) and runs them in ORT: each agrees
// with the reference on >= 95 % of its inputs, all together on >= 99 %. Small random networks have
// exact logit ties (the reference takes the lowest index, float error decides in ORT) and a
// one-code activation difference moves logits by whole quanta.
void ExpectRandomNetworksAgree(uint64_t seed, int cases, const char* what,
                               const std::function<void(int, testing::RandomCase&)>& adjust) {
  std::mt19937_64 rng(seed);
  int64_t samples = 0, agree = 0;
  double max_diff = 0;
  for (int n = 0; n < cases; ++n) {
    auto c = testing::MakeRandomCase(rng, 300, n % 2 == 1);
    adjust(n, c);
    if (n % 3 == 0) testing::PerturbWeights(c.quantized, rng);
    OrtComparison r = ExportAndRun(c.quantized, c.network, c.inputs);
    samples += r.samples;
    agree += r.top1_agree;
    max_diff = std::max(max_diff, r.max_logit_diff);
    EXPECT_GE(r.Agreement(), 0.95) << what << " case " << n;
  }
  std::printf("%s: top-1 agreement %lld / %lld, largest logit difference %.3f quanta\n", what,
              static_cast<long long>(agree), static_cast<long long>(samples), max_diff);
  EXPECT_GE(static_cast<double>(agree) / samples, 0.99) << what;
}

TEST(OrtExportTest, RandomNetworksAgreeWithReference) {
  SKIP_WITHOUT_ORT();
  ExpectRandomNetworksAgree(99, 24, "random networks", [](int n, testing::RandomCase& c) {
    if (n % 6 == 5) {  // 9..16-bit weights travel as int32 through DequantizeLinear
      QuantConfig config = c.quantized.config;
      config.defaults.weight_bits = 12;
      c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
    }
  });
}

// 9..16-bit activation codes have no QuantizeLinear at opset 13: they are quantized by Div,
// Round, Clip and Mul in float (src/export/onnx_export.cc). Conv cases include average pooling on
// those codes.
TEST(OrtExportTest, WideActivationCodesAgreeWithReference) {
  SKIP_WITHOUT_ORT();
  ExpectRandomNetworksAgree(16, 8, "wide activations", [](int n, testing::RandomCase& c) {
    QuantConfig config = c.quantized.config;
    config.activation_bits = n < 4 ? 16 : 9 + n;
    c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
  });
}

// Asymmetric activations: QuantizeLinear/DequantizeLinear with uint8 zero points (8 bits and
// fewer), the centered Div/Round/Clip/Mul form past 8 bits, average pooling on centered codes.
TEST(OrtExportTest, ZeroPointsAgreeWithReference) {
  SKIP_WITHOUT_ORT();
  ExpectRandomNetworksAgree(4040, 16, "zero points", [](int n, testing::RandomCase& c) {
    QuantConfig config = c.quantized.config;
    config.activation_symmetric = false;
    config.activation_signed = n % 8 >= 4;  // int8 zero points (TFLite's codes), or uint8
    if (n % 4 == 3) config.activation_bits = 12;
    c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
  });
}

// Requantized logits ("logits": {"bits": 8}): a QuantizeLinear/DequantizeLinear pair on the
// logits, so ORT's outputs are the saturated codes times the logit scale.
TEST(OrtExportTest, RequantizedLogitsAgreeWithReference) {
  SKIP_WITHOUT_ORT();
  ExpectRandomNetworksAgree(1919, 12, "requantized logits", [](int n, testing::RandomCase& c) {
    QuantConfig config = c.quantized.config;
    config.logit_bits = n % 3 == 2 ? 12 : 8;
    config.activation_symmetric = n % 2 == 0;
    c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
  });
}

// "decision": "argmin": the model ends in Neg, so ORT gives the loaded network's outputs and the
// lowest is the reference pass's decision.
TEST(OrtExportTest, ArgminNetworksGiveTheLoadedOrientation) {
  SKIP_WITHOUT_ORT();
  std::mt19937_64 rng(23);
  int64_t samples = 0, agree = 0;
  for (int n = 0; n < 6; ++n) {
    auto c = testing::MakeRandomCase(rng, 300, n % 2 == 1);
    OrientForDecision(c.network, Decision::kArgmin, "random");
    QuantConfig config = c.quantized.config;
    config.decision = Decision::kArgmin;
    c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
    TempDir dir("ort_argmin");
    const std::string model = dir.Path("model.onnx");
    std::ofstream(model, std::ios::binary) << ExportOnnxQdq(c.quantized, c.network);
    const FloatBatch logits = testing::RunOrt(kOrtDir, dir.path(), model, c.quantized, c.inputs);
    // Negated back, the ORT outputs are the reference's logits (and their argmax its top-1).
    OrtComparison r = testing::CompareWithReference(c.quantized, c.inputs, -logits, {});
    EXPECT_GE(r.Agreement(), 0.95) << "case " << n;
    EXPECT_LT(r.max_logit_diff, 50) << "case " << n;
    const std::vector<int> reference = PredictQuantized(c.quantized, c.inputs);
    for (Eigen::Index s = 0; s < logits.cols(); ++s) {
      Eigen::Index lowest = 0;
      logits.col(s).minCoeff(&lowest);
      agree += lowest == reference[s];
    }
    samples += logits.cols();
  }
  EXPECT_GE(static_cast<double>(agree) / samples, 0.99) << agree << " / " << samples;
}

TEST(OrtExportTest, WeightsOnlyNetworksMatchTheFloatPass) {
  SKIP_WITHOUT_ORT();
  std::mt19937_64 rng(5);
  for (int n = 0; n < 4; ++n) {
    auto c = testing::MakeRandomCase(rng, 200, n % 2 == 1);
    QuantConfig config = c.quantized.config;
    config.activation_bits = 0;
    QuantizedNetwork q = QuantizeNetwork(c.network, config, c.inputs, "random");
    OrtComparison r = ExportAndRun(q, c.network, c.inputs);
    EXPECT_LT(r.max_logit_diff, 1e-4) << "case " << n;
  }
}

struct BundledCase {
  const char* model;
  int weight_bits;
  Granularity granularity;
  int activation_bits = 8;
};

void ExpectBundledAgreement(const BundledCase& bc) {
  SKIP_WITHOUT_ORT();
  std::string path = std::string(QREPAIR_SOURCE_DIR) + "/models/" + bc.model;
  std::ifstream images(kFashionImages);
  if (!images) GTEST_SKIP() << kFashionImages << " missing (Debian package dataset-fashion-mnist)";
  DataOptions d;
  d.data_path = kFashionImages;
  d.labels_path = kFashionLabels;
  d.input_scale = 1.0 / 255;
  d.range = RowRange{0, 1000};
  Dataset data = LoadDataset(d);
  Network net = LoadFloatNetwork(path);
  QuantConfig config;
  config.defaults.weight_bits = bc.weight_bits;
  config.defaults.granularity = bc.granularity;
  config.activation_bits = bc.activation_bits;
  FloatBatch inputs = InputBatch(data);
  QuantizedNetwork q = QuantizeNetwork(net, config, inputs, path);
  // The graph's meaning, op by op, must agree everywhere; ORT's fused int8 kernels only where
  // they cannot saturate (testing::OrtInt8KernelsMaySaturate; docs/exports.md).
  for (testing::OrtGraph graph : {testing::OrtGraph::kUnfused, testing::OrtGraph::kFused}) {
    const bool fused = graph == testing::OrtGraph::kFused;
    OrtComparison r = ExportAndRun(q, net, inputs, data.labels, graph);
    std::printf(
        "%s, %d-bit %s weights, %d-bit activations, ORT %s: top-1 agreement %lld / %lld, "
        "accuracy ORT %.2f %% vs reference %.2f %%, largest logit difference %.4f quanta\n",
        bc.model, bc.weight_bits,
        bc.granularity == Granularity::kPerChannel ? "per-channel" : "per-tensor",
        bc.activation_bits, fused ? "fused int8 kernels" : "unfused graph",
        static_cast<long long>(r.top1_agree), static_cast<long long>(r.samples),
        100.0 * r.ort_correct / r.samples, 100.0 * r.reference_correct / r.samples,
        r.max_logit_diff);
    if (fused && testing::OrtInt8KernelsMaySaturate(bc.weight_bits, bc.activation_bits)) {
      std::printf(
          "  not asserted: this CPU has no VNNI, and ORT's u8s8 kernels saturate int16 "
          "pair sums of 8-bit weights (docs/exports.md)\n");
      continue;
    }
    EXPECT_GE(r.Agreement(), 0.999) << (fused ? "fused int8 kernels" : "unfused graph");
  }
}

TEST(OrtExportTest, FashionMlp4BitAgreesOn1000TestImages) {
  ExpectBundledAgreement({"fashion_mlp.onnx", 4, Granularity::kPerTensor});
}

TEST(OrtExportTest, FashionMlp8BitAgreesOn1000TestImages) {
  ExpectBundledAgreement({"fashion_mlp.onnx", 8, Granularity::kPerTensor});
}

TEST(OrtExportTest, FashionMlp4BitPerChannelAgreesOn1000TestImages) {
  ExpectBundledAgreement({"fashion_mlp.onnx", 4, Granularity::kPerChannel});
}

TEST(OrtExportTest, FashionCnnAgreesOn1000TestImages) {
  ExpectBundledAgreement({"fashion_cnn.onnx", 8, Granularity::kPerChannel});
}

TEST(OrtExportTest, TinyCnnWithAveragePoolingAgreesOn1000TestImages) {
  ExpectBundledAgreement({"tiny_cnn.onnx", 4, Granularity::kPerTensor});
}

TEST(OrtExportTest, FashionCnnWith16BitActivationsAgreesOn1000TestImages) {
  ExpectBundledAgreement({"fashion_cnn.onnx", 4, Granularity::kPerChannel, 16});
}

TEST(OrtExportTest, TinyCnnWith12BitActivationsAgreesOn1000TestImages) {
  ExpectBundledAgreement({"tiny_cnn.onnx", 6, Granularity::kPerTensor, 12});
}

}  // namespace
}  // namespace qrepair
