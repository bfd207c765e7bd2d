// LoadOnnx on valid models of each supported operator, built in memory; outputs are checked
// against values worked out by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "onnx_model_builder.h"
#include "qrepair/io/json_io.h"
#include "qrepair/io/model_loader.h"

namespace qrepair {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;
using testing_onnx::ModelBuilder;
using testing_onnx::Outputs;
using testing_onnx::SetFloat;
using testing_onnx::SetInt;
using testing_onnx::SetInts;
using testing_onnx::SetString;
using testing_onnx::TempDir;

TEST(OnnxLoaderTest, GemmWithTransposedWeightAndBias) {
  TempDir dir;
  ModelBuilder m({1, 3});
  m.Weight("W", {2, 3}, {1, 2, 3, 4, 5, 6});
  m.Weight("b", {2}, {0.5f, -1});
  SetInt(m.Op("Gemm", {"W", "b"}, "fc"), "transB", 1);
  Network net = LoadOnnx(m.Save(dir));
  ASSERT_EQ(net.layers.size(), 1u);
  EXPECT_EQ(net.layers[0].kind, LayerKind::kDense);
  EXPECT_EQ(net.layers[0].name, "fc");
  EXPECT_EQ(net.input_shape, (Shape{3, 1, 1}));
  EXPECT_THAT(Outputs(net, {1, 0, -1}), ElementsAre(FloatEq(-1.5f), FloatEq(-3.0f)));
}

TEST(OnnxLoaderTest, GemmAlphaBetaAndBroadcastBias) {
  TempDir dir;
  ModelBuilder m({-1, 3});                    // symbolic batch
  m.Weight("B", {3, 2}, {1, 2, 3, 4, 5, 6});  // in x out, transB = 0
  m.Weight("C", {1}, {4});
  auto* gemm = m.Op("Gemm", {"B", "C"});
  SetFloat(gemm, "alpha", 2);
  SetFloat(gemm, "beta", 0.5f);
  Network net = LoadOnnx(m.Save(dir));
  EXPECT_EQ(net.layers[0].name, "Gemm_0");
  EXPECT_THAT(net.layers[0].weights, ElementsAre(2, 6, 10, 4, 8, 12));
  EXPECT_THAT(Outputs(net, {1, 1, 1}), ElementsAre(FloatEq(20), FloatEq(26)));
}

TEST(OnnxLoaderTest, MatMulThenAddIsOneDenseLayerWithTransposedRawWeights) {
  TempDir dir;
  ModelBuilder m({1, 3});
  m.Weight("W", {3, 2}, {1, 2, 3, 4, 5, 6}, /*raw=*/true);
  m.Weight("b", {2}, {10, 20}, /*raw=*/true);
  m.Op("MatMul", {"W"}, "mm");
  m.Op("Add", {"b"}, "add");
  Network net = LoadOnnx(m.Save(dir));
  ASSERT_EQ(net.layers.size(), 1u);
  EXPECT_EQ(net.layers[0].name, "mm");
  EXPECT_THAT(net.layers[0].weights, ElementsAre(1, 3, 5, 2, 4, 6));
  EXPECT_THAT(net.layers[0].bias, ElementsAre(10, 20));
  EXPECT_THAT(Outputs(net, {1, 0, 2}), ElementsAre(FloatEq(21), FloatEq(34)));
}

TEST(OnnxLoaderTest, MatMulAloneHasZeroBias) {
  TempDir dir;
  ModelBuilder m({1, 2});
  m.Weight("W", {2, 1}, {3, -1});
  m.Op("MatMul", {"W"});
  Network net = LoadOnnx(m.Save(dir));
  EXPECT_THAT(net.layers[0].bias, ElementsAre(0));
  EXPECT_THAT(Outputs(net, {2, 1}), ElementsAre(FloatEq(5)));
}

TEST(OnnxLoaderTest, ImageInputIsImplicitlyFlattenedBeforeMatMul) {
  TempDir dir;
  ModelBuilder m({1, 1, 1, 5});  // the ACAS Xu input layout
  m.Weight("W", {5, 1}, {1, 1, 1, 1, 1});
  m.Op("MatMul", {"W"}, "mm");
  Network net = LoadOnnx(m.Save(dir));
  EXPECT_EQ(net.input_shape, (Shape{1, 1, 5}));
  ASSERT_EQ(net.layers.size(), 2u);
  EXPECT_EQ(net.layers[0].kind, LayerKind::kFlatten);
  EXPECT_EQ(net.layers[1].input_shape, (Shape{5, 1, 1}));
  EXPECT_THAT(Outputs(net, {1, 2, 3, 4, 5}), ElementsAre(FloatEq(15)));
}

TEST(OnnxLoaderTest, AcasLayoutSubFlattenMatMulAdd) {
  TempDir dir;
  ModelBuilder m({1, 1, 1, 5});
  m.Weight("avg", {1, 1, 1, 5}, {0, 1, 0, 0, 0});
  *m.graph().add_input() = m.graph().input(0);  // old exporters list initializers as inputs too
  m.graph().mutable_input(1)->set_name("avg");
  m.Weight("W", {5, 2}, {1, 0, 1, 0, 1, 0, 1, 0, 1, 1});
  m.Weight("b", {2}, {0, 0.5f});
  m.Op("Sub", {"avg"});
  SetInt(m.Op("Flatten"), "axis", 1);
  m.Op("MatMul", {"W"});
  m.Op("Add", {"b"});
  Network net = LoadOnnx(m.Save(dir));
  ASSERT_EQ(net.layers.size(), 3u);
  EXPECT_EQ(net.layers[0].kind, LayerKind::kNormalize);
  EXPECT_EQ(net.layers[1].kind, LayerKind::kFlatten);
  EXPECT_EQ(net.layers[2].kind, LayerKind::kDense);
  EXPECT_THAT(Outputs(net, {1, 2, 3, 4, 5}), ElementsAre(FloatEq(14), FloatEq(5.5f)));
}

TEST(OnnxLoaderTest, FlatThreeDimensionalInputNeedsNoFlattenLayer) {
  TempDir dir;
  ModelBuilder m({1, 4, 1});  // the mnistfc layout [1, 784, 1]
  m.Weight("W", {1, 4}, {1, 2, 3, 4});
  SetInt(m.Op("Flatten"), "axis", 1);
  SetInt(m.Op("Gemm", {"W"}), "transB", 1);
  Network net = LoadOnnx(m.Save(dir));
  EXPECT_EQ(net.input_shape, (Shape{4, 1, 1}));
  ASSERT_EQ(net.layers.size(), 1u);
  EXPECT_THAT(Outputs(net, {1, 1, 1, 1}), ElementsAre(FloatEq(10)));
}

TEST(OnnxLoaderTest, SubAndDivMergeIntoOneNormalizeLayer) {
  TempDir dir;
  ModelBuilder m({1, 3});
  m.Weight("mean", {3}, {1, 2, 3});
  m.Weight("std", {}, {2});
  m.Op("Sub", {"mean"}, "sub");
  m.Op("Div", {"std"});
  m.Op("Relu");
  Network net = LoadOnnx(m.Save(dir));
  ASSERT_EQ(net.layers.size(), 2u);
  EXPECT_EQ(net.layers[0].kind, LayerKind::kNormalize);
  EXPECT_EQ(net.layers[0].name, "sub");
  EXPECT_THAT(net.layers[0].offset, ElementsAre(1, 2, 3));
  EXPECT_THAT(Outputs(net, {3, 6, 1}), ElementsAre(FloatEq(1), FloatEq(2), FloatEq(0)));
}

TEST(OnnxLoaderTest, MulAddAndReversedSubMapOntoNormalize) {
  TempDir dir;
  ModelBuilder m({1, 2});
  m.Weight("two", {}, {2});
  m.Weight("one", {1}, {1});
  m.Weight("ten", {}, {10});
  m.Op("Mul", {"two"});
  m.Op("Add", {"one"});
  onnx::NodeProto* sub = m.Op("Sub", {"ten"});  // 10 - y
  sub->mutable_input()->SwapElements(0, 1);
  Network net = LoadOnnx(m.Save(dir));
  ASSERT_EQ(net.layers.size(), 1u);
  EXPECT_THAT(Outputs(net, {3, -1}), ElementsAre(FloatEq(3), FloatEq(11)));  // 10 - (2x + 1)
}

TEST(OnnxLoaderTest, PerChannelConstantBroadcastsOverPixels) {
  TempDir dir;
  ModelBuilder m({1, 2, 1, 2});
  m.Weight("mean", {1, 2, 1, 1}, {1, 2});
  m.Op("Sub", {"mean"});
  Network net = LoadOnnx(m.Save(dir));
  EXPECT_THAT(net.layers[0].offset, ElementsAre(1, 1, 2, 2));
  EXPECT_THAT(Outputs(net, {1, 2, 3, 4}), ElementsAre(0, 1, 1, 2));
}

TEST(OnnxLoaderTest, ConvWithBiasAndPerChannelAddFolded) {
  TempDir dir;
  ModelBuilder m({1, 1, 3, 3});
  m.Weight("W", {1, 1, 2, 2}, {1, 1, 1, 1});
  m.Weight("B", {1}, {0.25f});
  m.Weight("shift", {1, 1, 1}, {0.25f});
  auto* conv = m.Op("Conv", {"W", "B"}, "conv");
  SetInts(conv, "kernel_shape", {2, 2});
  SetInts(conv, "strides", {1, 1});
  SetInts(conv, "pads", {0, 0, 0, 0});
  SetInts(conv, "dilations", {1, 1});
  SetInt(conv, "group", 1);
  m.Op("Add", {"shift"});
  Network net = LoadOnnx(m.Save(dir));
  ASSERT_EQ(net.layers.size(), 1u);
  EXPECT_EQ(net.layers[0].output_shape, (Shape{1, 2, 2}));
  EXPECT_THAT(Outputs(net, {1, 2, 3, 4, 5, 6, 7, 8, 9}),
              ElementsAre(FloatEq(12.5f), FloatEq(16.5f), FloatEq(24.5f), FloatEq(28.5f)));
}

TEST(OnnxLoaderTest, ConvStridesPadsAndSameUpper) {
  TempDir dir;
  ModelBuilder m({1, 1, 3, 3});
  m.Weight("W", {1, 1, 2, 2}, {1, 1, 1, 1});
  m.Weight("B", {1}, {0.5f});
  auto* conv = m.Op("Conv", {"W", "B"});
  SetInts(conv, "strides", {2, 2});
  SetInts(conv, "pads", {1, 1, 1, 1});
  Network strided = LoadOnnx(m.Save(dir));
  EXPECT_THAT(Outputs(strided, {1, 2, 3, 4, 5, 6, 7, 8, 9}),
              ElementsAre(FloatEq(1.5f), FloatEq(5.5f), FloatEq(11.5f), FloatEq(28.5f)));

  ModelBuilder same({1, 1, 3, 3});
  same.Weight("W", {1, 1, 2, 2}, {1, 1, 1, 1});
  SetString(same.Op("Conv", {"W"}), "auto_pad", "SAME_UPPER");
  Network net = LoadOnnx(same.Save(dir, "same.onnx"));
  const Window& w = net.layers[0].window;
  EXPECT_EQ(w.pad_top + w.pad_left, 0);
  EXPECT_EQ(w.pad_bottom + w.pad_right, 2);
  std::vector<float> y = Outputs(net, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  ASSERT_EQ(y.size(), 9u);
  EXPECT_FLOAT_EQ(y[2], 9);   // 3 + 6
  EXPECT_FLOAT_EQ(y[8], 9);   // 9 alone
  EXPECT_FLOAT_EQ(y[6], 15);  // 7 + 8
}

TEST(OnnxLoaderTest, MaxAverageAndGlobalPools) {
  TempDir dir;
  ModelBuilder max({1, 1, 4, 4});
  auto* pool = max.Op("MaxPool");
  SetInts(pool, "kernel_shape", {2, 2});
  SetInts(pool, "strides", {2, 2});
  std::vector<float> x16;
  for (int i = 1; i <= 16; ++i) x16.push_back(static_cast<float>(i));
  EXPECT_THAT(Outputs(LoadOnnx(max.Save(dir, "max.onnx")), x16), ElementsAre(6, 8, 14, 16));

  ModelBuilder avg({1, 1, 3, 3});
  pool = avg.Op("AveragePool");
  SetInts(pool, "kernel_shape", {2, 2});
  SetInts(pool, "strides", {2, 2});
  SetInts(pool, "pads", {1, 1, 1, 1});
  SetInt(pool, "count_include_pad", 0);
  EXPECT_THAT(Outputs(LoadOnnx(avg.Save(dir, "avg.onnx")), {1, 2, 3, 4, 5, 6, 7, 8, 9}),
              ElementsAre(FloatEq(1), FloatEq(2.5f), FloatEq(5.5f), FloatEq(7)));

  ModelBuilder global({1, 1, 3, 3});
  global.Op("GlobalAveragePool");
  EXPECT_THAT(Outputs(LoadOnnx(global.Save(dir, "global.onnx")), {1, 2, 3, 4, 5, 6, 7, 8, 9}),
              ElementsAre(FloatEq(5)));
}

TEST(OnnxLoaderTest, ActivationsAndSkippedNodes) {
  TempDir dir;
  ModelBuilder m({1, 3});
  m.Op("Identity");
  m.Op("Relu", {}, "relu");
  m.Op("Dropout");
  SetFloat(m.Op("LeakyRelu"), "alpha", 0.2f);
  m.Op("Sigmoid");
  Network net = LoadOnnx(m.Save(dir));
  ASSERT_EQ(net.layers.size(), 3u);
  EXPECT_EQ(net.layers[0].name, "relu");
  EXPECT_EQ(net.layers[1].name, "LeakyRelu_3");
  EXPECT_FLOAT_EQ(net.layers[1].alpha, 0.2f);
  EXPECT_EQ(net.layers[2].kind, LayerKind::kSigmoid);
  EXPECT_THAT(Outputs(net, {-1, 0, 2}),
              ElementsAre(FloatEq(0.5f), FloatEq(0.5f), FloatEq(1 / (1 + std::exp(-2.0f)))));

  ModelBuilder leaky({1, 1});
  leaky.Op("LeakyRelu");  // default alpha 0.01
  EXPECT_THAT(Outputs(LoadOnnx(leaky.Save(dir, "leaky.onnx")), {-2}), ElementsAre(FloatEq(-0.02f)));
}

TEST(OnnxLoaderTest, AllZeroPadIsSkippedAndRealPaddingRefused) {
  TempDir dir;
  ModelBuilder m({1, 1, 2, 2});
  m.Int64s("zeros", {0, 0, 0, 0, 0, 0, 0, 0});
  m.Op("Pad", {"zeros"});
  SetInts(m.Op("AveragePool"), "kernel_shape", {2, 2});
  EXPECT_THAT(Outputs(LoadOnnx(m.Save(dir)), {1, 2, 3, 4}), ElementsAre(FloatEq(2.5f)));

  ModelBuilder padded({1, 1, 2, 2});
  padded.Int64s("pads", {0, 0, 1, 1, 0, 0, 1, 1});
  padded.Op("Pad", {"pads"}, "pad");
  std::string error = testing_onnx::ErrorOf([&] { LoadOnnx(padded.Save(dir, "padded.onnx")); });
  EXPECT_THAT(error, HasSubstr("node 'pad' (Pad): pads [0, 0, 1, 1, 0, 0, 1, 1] are not all zero"));
}

TEST(OnnxLoaderTest, BundledModelsLoadWithTheirDocumentedShapes) {
  const std::string models = std::string(QREPAIR_SOURCE_DIR) + "/models/";
  Network tiny_cnn = LoadOnnx(models + "tiny_cnn.onnx");
  EXPECT_EQ(tiny_cnn.input_shape, (Shape{1, 28, 28}));
  ASSERT_EQ(tiny_cnn.layers.size(), 5u);
  EXPECT_EQ(tiny_cnn.layers[0].output_shape, (Shape{4, 14, 14}));  // 3x3, stride 2, pad 1
  EXPECT_EQ(tiny_cnn.layers[2].output_shape, (Shape{4, 7, 7}));
  EXPECT_EQ(tiny_cnn.layers[4].input_shape, (Shape{196, 1, 1}));
  Network fashion_cnn = LoadOnnx(models + "fashion_cnn.onnx");
  EXPECT_EQ(fashion_cnn.layers.size(), 8u);
  EXPECT_EQ(fashion_cnn.layers[5].output_shape, (Shape{16, 7, 7}));
  for (const char* mlp : {"tiny_mlp.onnx", "fashion_mlp.onnx"}) {
    Network net = LoadOnnx(models + mlp);
    EXPECT_EQ(net.input_shape, (Shape{1, 28, 28})) << mlp;
    EXPECT_EQ(net.layers[0].kind, LayerKind::kFlatten) << mlp;
    EXPECT_EQ(net.NumClasses(), 10) << mlp;
  }
}

TEST(OnnxLoaderTest, FlatteningReshapesFromInitializerAndConstantNode) {
  TempDir dir;
  ModelBuilder m({-1, 3, 2, 2});
  m.Int64s("shape", {-1, 12});
  m.Weight("W", {12, 1}, std::vector<float>(12, 1.0f));
  m.Op("Reshape", {"shape"}, "reshape");
  m.Op("MatMul", {"W"});
  Network net = LoadOnnx(m.Save(dir));
  ASSERT_EQ(net.layers.size(), 2u);
  EXPECT_EQ(net.layers[0].kind, LayerKind::kFlatten);
  EXPECT_EQ(net.layers[0].name, "reshape");

  ModelBuilder c({-1, 1, 2, 2});
  onnx::NodeProto* constant = c.graph().add_node();
  constant->set_op_type("Constant");
  constant->add_output("shape_const");
  auto* attr = constant->add_attribute();
  attr->set_name("value");
  attr->set_type(onnx::AttributeProto::TENSOR);
  attr->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  attr->mutable_t()->add_dims(2);
  attr->mutable_t()->add_int64_data(0);  // copy the batch dim
  attr->mutable_t()->add_int64_data(-1);
  c.Op("Reshape", {"shape_const"});
  c.Weight("W", {1, 4}, {1, 2, 3, 4});
  SetInt(c.Op("Gemm", {"W"}), "transB", 1);
  EXPECT_THAT(Outputs(LoadOnnx(c.Save(dir, "const.onnx")), {1, 1, 1, 1}), ElementsAre(FloatEq(10)));
}

TEST(OnnxLoaderTest, ExternalDataInsideTheModelFolder) {
  TempDir dir;
  testing_onnx::WriteBytes(dir.File("weights.bin"),
                           "pad!" + testing_onnx::LittleEndianFloats({1, 2, 3}));
  ModelBuilder m({1, 3});
  onnx::TensorProto* w = m.Weight("W", {3, 1}, {});
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* entry = w->add_external_data();
  entry->set_key("location");
  entry->set_value("weights.bin");
  entry = w->add_external_data();
  entry->set_key("offset");
  entry->set_value("4");
  m.Op("MatMul", {"W"});
  EXPECT_THAT(Outputs(LoadOnnx(m.Save(dir)), {1, 1, 1}), ElementsAre(FloatEq(6)));
}

TEST(ModelLoaderTest, DispatchesByExtensionAndSniffsTheRest) {
  TempDir dir;
  ModelBuilder m({1, 1});
  m.Op("Relu");
  std::string onnx_path = m.Save(dir);
  Network net = LoadFloatNetwork(onnx_path);
  EXPECT_EQ(net.layers.size(), 1u);
  ModelFile file;
  file.float_network = net;
  testing_onnx::WriteBytes(dir.File("model.json"), ModelFileToJson(file).dump());
  testing_onnx::WriteBytes(dir.File("model.data"), "\n  " + ModelFileToJson(file).dump());
  EXPECT_EQ(LoadFloatNetwork(dir.File("model.json")).layers[0].kind, LayerKind::kRelu);
  EXPECT_EQ(LoadFloatNetwork(dir.File("model.data")).layers[0].kind, LayerKind::kRelu);
  std::string odd = m.Save(dir, "model.weights");
  EXPECT_EQ(LoadFloatNetwork(odd).layers[0].kind, LayerKind::kRelu);
  std::string missing = testing_onnx::ErrorOf([&] { LoadFloatNetwork(dir.File("nope.onnx")); });
  EXPECT_NE(missing.find("nope.onnx"), std::string::npos);
  EXPECT_NE(missing.find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace qrepair
