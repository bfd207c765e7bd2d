// The loaders on the third-party networks of ../shared/data (or $QREPAIR_SHARED_DATA); skipped
// when that folder is absent. The ACAS Xu network exists as NNet and as ONNX: both must give
// the same outputs on random points of the NNet's input box.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "qrepair/io/model_loader.h"
#include "qrepair/quant/forward.h"

namespace qrepair {
namespace {

std::string SharedData() {
  const char* env = std::getenv("QREPAIR_SHARED_DATA");
  return env && *env ? env : QREPAIR_SOURCE_DIR "/../shared/data";
}

std::string SharedFile(const std::string& relative) { return SharedData() + "/" + relative; }

bool Absent(const std::string& path) { return !std::filesystem::exists(path); }

// Input mins and maxs of an NNet file: the 4th and 5th lines after the comments.
void ReadInputBox(const std::string& path, std::vector<float>* mins, std::vector<float>* maxs) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::vector<float>> rows;
  while (rows.size() < 5 && std::getline(in, line)) {
    if (line.rfind("//", 0) == 0) continue;
    std::stringstream fields(line);
    std::string field;
    rows.emplace_back();
    while (std::getline(fields, field, ',')) {
      if (field.find_first_not_of(" \r") != std::string::npos)
        rows.back().push_back(std::stof(field));
    }
  }
  ASSERT_EQ(rows.size(), 5u) << path;
  *mins = rows[3];
  *maxs = rows[4];
}

TEST(LoaderE2eTest, AcasNnetAndOnnxAgreeInsideTheInputBox) {
  const std::string nnet_path = SharedFile("networks/acasxu/ACASXU_experimental_v2a_1_1.nnet");
  const std::string onnx_path = SharedFile("networks/acasxu/ACASXU_run2a_1_1_batch_2000.onnx");
  if (Absent(nnet_path))
    GTEST_SKIP() << nnet_path << " is absent; set QREPAIR_SHARED_DATA to run this";
  if (Absent(onnx_path))
    GTEST_SKIP() << onnx_path << " is absent; set QREPAIR_SHARED_DATA to run this";
  Network nnet = LoadNnet(nnet_path);
  Network onnx = LoadOnnx(onnx_path);
  ASSERT_EQ(nnet.layers[0].kind, LayerKind::kNormalize);
  ASSERT_EQ(nnet.NumClasses(), 5);
  ASSERT_EQ(onnx.NumClasses(), 5);
  ASSERT_EQ(onnx.input_shape, (Shape{1, 1, 5}));
  std::vector<float> mins, maxs;
  ReadInputBox(nnet_path, &mins, &maxs);
  ASSERT_EQ(mins.size(), 5u);

  // The NNet network normalizes itself; the ONNX one expects (x - mean) / range already done.
  const int kPoints = 10000;
  const Layer& normalize = nnet.layers[0];
  std::mt19937 rng(20210601);
  FloatBatch raw(5, kPoints), normalized(5, kPoints);
  for (int p = 0; p < kPoints; ++p) {
    for (int i = 0; i < 5; ++i) {
      raw(i, p) = std::uniform_real_distribution<float>(mins[i], maxs[i])(rng);
      normalized(i, p) = (raw(i, p) - normalize.offset[i]) / normalize.divisor[i];
    }
  }
  FloatBatch from_nnet = ForwardFloat(nnet, raw);
  FloatBatch from_onnx = ForwardFloat(onnx, normalized);
  // Not vacuous: every output moves across the box.
  EXPECT_GT((from_nnet.rowwise().maxCoeff() - from_nnet.rowwise().minCoeff()).minCoeff(), 0.0f);
  const double max_diff = (from_nnet - from_onnx).cwiseAbs().maxCoeff();
  int same_advisory = 0;  // the advisory is the lowest output
  for (int p = 0; p < kPoints; ++p) {
    Eigen::Index a, b;
    from_nnet.col(p).minCoeff(&a);
    from_onnx.col(p).minCoeff(&b);
    same_advisory += a == b;
  }
  std::cout << "[ acasxu  ] " << kPoints << " points: max |nnet - onnx| = " << max_diff
            << ", same advisory on " << same_advisory << "\n";
  RecordProperty("max_abs_difference", std::to_string(max_diff));
  EXPECT_LE(max_diff, 1e-5);
  EXPECT_EQ(same_advisory, kPoints);
}

TEST(LoaderE2eTest, MnistFullyConnectedNetworksLoad) {
  for (int hidden : {2, 4, 6}) {
    const std::string path =
        SharedFile("networks/mnistfc/mnist-net_256x" + std::to_string(hidden) + ".onnx");
    if (Absent(path)) GTEST_SKIP() << path << " is absent; set QREPAIR_SHARED_DATA to run this";
    Network net = LoadOnnx(path);
    EXPECT_EQ(net.input_shape, (Shape{784, 1, 1})) << path;
    EXPECT_EQ(net.NumClasses(), 10) << path;
    int dense = 0;
    for (const Layer& layer : net.layers) {
      if (layer.kind != LayerKind::kDense) continue;
      ++dense;
      if (dense <= hidden) EXPECT_EQ(layer.Units(), 256) << path << " " << layer.name;
    }
    EXPECT_EQ(dense, hidden + 1) << path;
  }
}

TEST(LoaderE2eTest, ConvnetMaxpoolLoads) {
  const std::string path = SharedFile("networks/cnn/Convnet_maxpool.onnx");
  if (Absent(path)) GTEST_SKIP() << path << " is absent; set QREPAIR_SHARED_DATA to run this";
  Network net = LoadOnnx(path);
  EXPECT_EQ(net.input_shape, (Shape{1, 28, 28}));
  ASSERT_EQ(net.layers.size(), 5u);
  EXPECT_EQ(net.layers[0].kind, LayerKind::kConv2d);
  EXPECT_EQ(net.layers[0].output_shape, (Shape{32, 27, 27}));
  EXPECT_EQ(net.layers[1].kind, LayerKind::kRelu);
  EXPECT_EQ(net.layers[2].kind, LayerKind::kMaxPool);
  EXPECT_EQ(net.layers[2].output_shape, (Shape{32, 6, 6}));
  EXPECT_EQ(net.layers[3].kind, LayerKind::kFlatten);
  EXPECT_EQ(net.layers[4].kind, LayerKind::kDense);
  EXPECT_EQ(net.NumClasses(), 10);
}

}  // namespace
}  // namespace qrepair
