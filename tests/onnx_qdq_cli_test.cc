// Int8 ONNX models of a third-party producer's style (tests/tools/qdq_models.py: ONNX Runtime's
// quantizer layout, built with the onnx package) against the script's numpy reference of their
// integers, from the library and from the command line; and ONNX Runtime on the same files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ort_harness.h"
#include "qrepair/io/dataset.h"
#include "qrepair/io/onnx_qdq_import.h"
#include "qrepair/quant/forward.h"
#include "temp_dir.h"

namespace qrepair {
namespace {

using testing::TempDir;

const std::string kBinary = QREPAIR_BINARY;
const std::string kSource = QREPAIR_SOURCE_DIR;
const std::string kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const std::string kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
const std::string kScale = "0.00392156862745098";  // 1/255: the script's input scale
// Test images used (QREPAIR_QDQ_IMAGES overrides: docs/exports.md's figures use all 10000).
const int kImagesUsed =
    std::getenv("QREPAIR_QDQ_IMAGES") ? std::atoi(std::getenv("QREPAIR_QDQ_IMAGES")) : 1000;

int Shell(const std::string& dir, const std::string& command, std::string* out = nullptr,
          std::string* err = nullptr) {
  const int status =
      std::system(("cd " + dir + " && " + command + " > out.txt 2> err.txt").c_str());
  auto read = [&](const char* name, std::string* text) {
    if (!text) return;
    std::ifstream f(dir + "/" + name);
    std::stringstream s;
    s << f.rdbuf();
    *text = s.str();
  };
  read("out.txt", out);
  read("err.txt", err);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Rows of "prediction logit_0 ... logit_9".
std::vector<std::vector<int64_t>> ReadReference(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::vector<int64_t>> rows;
  std::string line;
  while (std::getline(f, line)) {
    std::stringstream s(line);
    std::vector<int64_t> row;
    int64_t v = 0;
    while (s >> v) row.push_back(v);
    rows.push_back(row);
  }
  return rows;
}

class OnnxQdqCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kImages)) return;
    dir_ = new TempDir("onnx_qdq_cli");
    status_ = Shell(dir_->path(),
                    "/usr/bin/python3 " + kSource + "/tests/tools/qdq_models.py " + kSource +
                        "/models " + kImages + " . " + std::to_string(kImagesUsed),
                    nullptr, &script_err_);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << kImages << " is absent";
    ASSERT_EQ(status_, 0) << script_err_;
  }
  static Dataset Images() {
    DataOptions o;
    o.data_path = kImages;
    o.labels_path = kLabels;
    o.input_scale = 1.0 / 255.0;
    o.range = RowRange{0, static_cast<int64_t>(kImagesUsed)};
    return LoadDataset(o);
  }

  static TempDir* dir_;
  static int status_;
  static std::string script_err_;
};

TempDir* OnnxQdqCliTest::dir_ = nullptr;
int OnnxQdqCliTest::status_ = -1;
std::string OnnxQdqCliTest::script_err_;

TEST_F(OnnxQdqCliTest, ImportedModelsGiveTheNumpyReferenceLogitsBitForBit) {
  const Dataset data = Images();
  for (const char* name : {"mlp", "cnn"}) {
    SCOPED_TRACE(name);
    const ModelFile model = LoadQuantizedOnnx(dir_->Path(std::string(name) + "_int8.onnx"));
    const QuantizedNetwork& q = model.quantized;
    EXPECT_FALSE(q.config.activation_symmetric);  // non-zero zero points
    EXPECT_EQ(q.config.logit_bits, std::string(name) == "mlp" ? 8 : 32);
    const CodeBatch logits = ForwardInteger(q, QuantizeInput(q, InputBatch(data)));
    const auto reference = ReadReference(dir_->Path(std::string(name) + "_reference.txt"));
    ASSERT_EQ(static_cast<int64_t>(reference.size()), logits.cols());
    int64_t differ = 0, correct = 0;
    for (int64_t s = 0; s < logits.cols(); ++s) {
      Eigen::Index top = 0;
      logits.col(s).maxCoeff(&top);
      correct += top == data.labels[s];
      bool same = reference[s][0] == top;
      for (int64_t k = 0; k < logits.rows(); ++k)
        same = same && reference[s][k + 1] == logits(k, s);
      differ += !same;
    }
    EXPECT_EQ(differ, 0);
    EXPECT_GT(correct, kImagesUsed * 80 / 100);  // trained weights: a working classifier
  }
}

TEST_F(OnnxQdqCliTest, EvalPrintsQuantizedFiguresOnly) {
  std::string out, err;
  ASSERT_EQ(Shell(dir_->path(),
                  kBinary + " eval mlp_int8.onnx --data " + kImages + " --labels " + kLabels +
                      " --input-scale " + kScale + " --range 0:" + std::to_string(kImagesUsed) +
                      " --json",
                  &out, &err),
            0)
      << err;
  const nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_TRUE(j["float"].is_null()) << out;
  EXPECT_GT(j["quantized"]["accuracy"].get<double>(), 0.8) << out;
  EXPECT_TRUE(j["quantized"]["agreement"].is_null()) << out;
  // No float network: the float target is refused before any work (usage, exit 2).
  EXPECT_EQ(Shell(dir_->path(),
                  kBinary + " repair mlp_int8.onnx --data " + kImages + " --labels " + kLabels +
                      " --input-scale " + kScale + " --repair-range 0:50 --target float -o r.json",
                  nullptr, &err),
            2)
      << err;
  EXPECT_NE(err.find("--target labels"), std::string::npos) << err;
  // No float network: --config cannot quantize it again (usage, exit 2).
  EXPECT_EQ(Shell(dir_->path(),
                  kBinary + " eval cnn_int8.onnx --config x.json --data " + kImages +
                      " --input-scale " + kScale + " --range 0:10",
                  nullptr, &err),
            2)
      << err;
}

TEST_F(OnnxQdqCliTest, MalformedModelIsBadInputNamingTheNode) {
  // The first layer's weight zero point made 3 (the script's MLP, rewritten with the onnx
  // package).
  std::string err;
  ASSERT_EQ(Shell(dir_->path(),
                  "/usr/bin/python3 -c \"import onnx, numpy as np; from onnx import numpy_helper; "
                  "m = onnx.load('mlp_int8.onnx'); "
                  "t = [t for t in m.graph.initializer if t.name == 'fc1.weight_zero_point'][0]; "
                  "t.CopyFrom(numpy_helper.from_array(np.int8(3), t.name)); "
                  "onnx.save(m, 'bad.onnx')\""),
            0);
  ASSERT_EQ(Shell(dir_->path(),
                  kBinary + " eval bad.onnx --data " + kImages + " --input-scale " + kScale +
                      " --range 0:10",
                  nullptr, &err),
            3)
      << err;
  EXPECT_NE(err.find("bad.onnx: node 'fc1.weight_DequantizeLinear' (DequantizeLinear): weight "
                     "zero point 3"),
            std::string::npos)
      << err;
}

// verify (the MLP: the verifier has no max pooling yet) and export open an int8 ONNX model as
// they open a quantized qrepair JSON; the export of an imported model reads back as the same
// integer network.
TEST_F(OnnxQdqCliTest, VerifyAndExportOpenTheModel) {
  std::string out, err;
  EXPECT_EQ(Shell(dir_->path(),
                  kBinary + " verify mlp_int8.onnx --data " + kImages + " --labels " + kLabels +
                      " --input-scale " + kScale + " --range 0:3 --radius 1 --json",
                  &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("\"robust\""), std::string::npos) << out;
  ASSERT_EQ(Shell(dir_->path(), kBinary + " export cnn_int8.onnx --onnx again.onnx --force",
                  nullptr, &err),
            0)
      << err;
  const QuantizedNetwork a = LoadQuantizedOnnx(dir_->Path("cnn_int8.onnx")).quantized;
  const QuantizedNetwork b = LoadQuantizedOnnx(dir_->Path("again.onnx")).quantized;
  const FloatBatch inputs = InputBatch(Images(), 0, 200);
  EXPECT_EQ(ForwardInteger(a, QuantizeInput(a, inputs)),
            ForwardInteger(b, QuantizeInput(b, inputs)));
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(a.layers[i].weights_q, b.layers[i].weights_q) << i;
    EXPECT_EQ(a.layers[i].bias_q, b.layers[i].bias_q) << i;
    EXPECT_EQ(a.layers[i].requant, b.layers[i].requant) << i;
  }
}

// PyTorch's own export (tests/tools/torch_qdq_mlp.py: torch.ao.quantization with qnnpack, then
// torch.onnx; Cast nodes after every QuantizeLinear, bias zero points from ConstantOfShape):
// the imported integer pass against torch's quantized model. torch requantizes with a float
// multiplier, qrepair with a 31-bit fixed-point one, so a code may differ by one at a tie.
TEST_F(OnnxQdqCliTest, PyTorchExportAgreesWithTorch) {
  std::string err;
  if (Shell(dir_->path(), "/usr/bin/python3 -c 'import torch'", nullptr, &err) != 0) {
    GTEST_SKIP() << "no torch: " << err;
  }
  ASSERT_EQ(Shell(dir_->path(),
                  "/usr/bin/python3 " + kSource + "/tests/tools/torch_qdq_mlp.py " + kSource +
                      "/models " + kImages + " . " + std::to_string(kImagesUsed),
                  nullptr, &err),
            0)
      << err;
  const Dataset data = Images();
  const QuantizedNetwork q = LoadQuantizedOnnx(dir_->Path("torch_mlp_int8.onnx")).quantized;
  const CodeBatch logits = ForwardInteger(q, QuantizeInput(q, InputBatch(data)));
  const auto reference = ReadReference(dir_->Path("torch_reference.txt"));
  ASSERT_EQ(static_cast<int64_t>(reference.size()), logits.cols());
  int64_t agree = 0, max_diff = 0;
  for (int64_t s = 0; s < logits.cols(); ++s) {
    Eigen::Index top = 0;
    logits.col(s).maxCoeff(&top);
    agree += reference[s][0] == top;
    for (int64_t k = 0; k < logits.rows(); ++k)
      max_diff = std::max<int64_t>(max_diff, std::abs(reference[s][k + 1] - logits(k, s)));
  }
  std::printf("torch qnnpack MLP: top-1 agreement %lld/%lld, largest logit difference %lld codes\n",
              static_cast<long long>(agree), static_cast<long long>(logits.cols()),
              static_cast<long long>(max_diff));
  EXPECT_GE(agree, kImagesUsed * 995 / 1000);
  EXPECT_LE(max_diff, 3);
}

// ONNX Runtime on the same files: op by op (graph optimizations off) everywhere; its fused int8
// kernels where they cannot saturate (see docs/exports.md), else printed only. Top-1 agrees on
// >= 99.9 % of the images, requantized logits within one code.
TEST_F(OnnxQdqCliTest, OnnxRuntimeAgreesWithTheImportedIntegerPass) {
  const std::string ort_dir = kSource + "/tests/ort";
  const std::string why = qrepair::testing::OrtUnavailableReason(ort_dir);
  if (!why.empty()) GTEST_SKIP() << why;
  const Dataset data = Images();
  const FloatBatch inputs = InputBatch(data);
  for (const char* name : {"mlp", "cnn"}) {
    const std::string path = dir_->Path(std::string(name) + "_int8.onnx");
    const ModelFile model = LoadQuantizedOnnx(path);
    for (auto graph : {qrepair::testing::OrtGraph::kUnfused, qrepair::testing::OrtGraph::kFused}) {
      const bool fused = graph == qrepair::testing::OrtGraph::kFused;
      TempDir work("onnx_qdq_ort");
      FloatBatch ort =
          qrepair::testing::RunOrt(ort_dir, work.path(), path, model.quantized, inputs, graph);
      const QuantLayer& logits = model.quantized.layers[model.quantized.LogitLayer()];
      // Requantized logits are codes with a zero point; ORT gives (code - zp) * scale.
      ort.array() += static_cast<float>(logits.output.zero_point * logits.output.scale);
      const auto r =
          qrepair::testing::CompareWithReference(model.quantized, inputs, ort, data.labels);
      std::printf(
          "%s, ORT %s: top-1 agreement %lld/%lld, largest logit difference %.2f quanta, "
          "accuracy ORT %.4f reference %.4f\n",
          name, fused ? "fused" : "op by op", static_cast<long long>(r.top1_agree),
          static_cast<long long>(r.samples), r.max_logit_diff,
          static_cast<double>(r.ort_correct) / r.samples,
          static_cast<double>(r.reference_correct) / r.samples);
      if (fused && qrepair::testing::OrtInt8KernelsMaySaturate(8, 8)) continue;
      EXPECT_GE(r.Agreement(), 0.999) << name;
      // Requantized logits are codes: within one. int32 logits are accumulator units, where one
      // hidden code that rounds the other way at a float tie moves a logit by a whole weight.
      if (logits.output.bits < 32) EXPECT_LE(r.max_logit_diff, 1.0 + 1e-3) << name;
    }
  }
}

}  // namespace
}  // namespace qrepair
