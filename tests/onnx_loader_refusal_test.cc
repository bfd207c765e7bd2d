// LoadOnnx on malformed, hostile and unsupported models: each is refused with a message that
// names the file, the node (or tensor) and what was expected.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "onnx_model_builder.h"
#include "qrepair/io/model_loader.h"

namespace qrepair {
namespace {

using ::testing::HasSubstr;
using testing_onnx::ErrorOf;
using testing_onnx::ModelBuilder;
using testing_onnx::SetInt;
using testing_onnx::SetInts;
using testing_onnx::TempDir;

std::string LoadError(const std::string& path) {
  return ErrorOf([&] { LoadOnnx(path); });
}

TEST(OnnxLoaderTest, WrongWeightShapeNamesTheNodeAndTheExpectedShape) {
  TempDir dir;
  ModelBuilder m({1, 3});
  m.Weight("W", {2, 4}, std::vector<float>(8, 1.0f));
  SetInt(m.Op("Gemm", {"W"}, "Gemm_3"), "transB", 1);
  std::string path = m.Save(dir);
  std::string error = LoadError(path);
  EXPECT_THAT(error, HasSubstr(path + ": node 'Gemm_3' (Gemm): weight B is 2x4, expected 2x3"));
}

TEST(OnnxLoaderTest, UnsupportedOperatorNamesTheNode) {
  TempDir dir;
  ModelBuilder m({1, 3});
  m.Op("Relu");
  m.Op("Softmax");
  std::string error = LoadError(m.Save(dir));
  EXPECT_THAT(error, HasSubstr("node 'Softmax_1' (Softmax): operator Softmax is not supported"));
}

TEST(OnnxLoaderTest, BranchingAndMergingGraphsAreRefused) {
  TempDir dir;
  ModelBuilder branch({1, 3});
  branch.Op("Relu", {}, "left");
  onnx::NodeProto* right = branch.graph().add_node();
  right->set_op_type("Sigmoid");
  right->set_name("right");
  right->add_input("x");
  right->add_output("unused");
  EXPECT_THAT(LoadError(branch.Save(dir, "branch.onnx")), HasSubstr("no branches"));

  ModelBuilder residual({1, 3});
  residual.Op("Relu");
  residual.Op("Add", {"x"}, "residual");
  EXPECT_THAT(LoadError(residual.Save(dir, "residual.onnx")),
              HasSubstr("node 'residual' (Add): reads tensor 'x' that node 'Relu_0' (Relu) also "
                        "reads; expected a single chain (no branches)"));

  ModelBuilder merge({1, 3});
  merge.Weight("w", {3}, {1, 2, 3});
  onnx::NodeProto* computed = merge.graph().add_node();
  computed->set_op_type("Identity");
  computed->add_input("w");
  computed->add_output("w2");
  merge.Op("Add", {"w2"}, "mix");
  EXPECT_THAT(LoadError(merge.Save(dir, "merge.onnx")),
              HasSubstr("node 'mix' (Add): input 'w2' is not a constant"));

  ModelBuilder off_chain({1, 3});
  off_chain.Weight("w", {3}, {1, 2, 3});
  off_chain.Op("Relu");
  onnx::NodeProto* stray = off_chain.graph().add_node();
  stray->set_op_type("Identity");
  stray->set_name("stray");
  stray->add_input("w");
  stray->add_output("w2");
  EXPECT_THAT(LoadError(off_chain.Save(dir, "stray.onnx")),
              HasSubstr("node 'stray' (Identity): is not on the chain"));
}

TEST(OnnxLoaderTest, TruncatedOrGarbageFilesAreRefused) {
  TempDir dir;
  ModelBuilder m({1, 3});
  m.Weight("W", {3, 2}, {1, 2, 3, 4, 5, 6});
  m.Op("MatMul", {"W"});
  std::string bytes = m.model().SerializeAsString();
  std::string path = dir.File("truncated.onnx");
  testing_onnx::WriteBytes(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(LoadError(path), HasSubstr("truncated.onnx: is not a valid ONNX model"));

  testing_onnx::WriteBytes(path, "");
  EXPECT_THAT(LoadError(path), HasSubstr("has no nodes"));
  testing_onnx::WriteBytes(path, "{\"this is\": \"json\"}\n");
  EXPECT_THAT(LoadError(path), HasSubstr("truncated.onnx"));
}

TEST(OnnxLoaderTest, NaNWeightIsRefused) {
  TempDir dir;
  ModelBuilder m({1, 2});
  m.Weight("W", {2, 1}, {1, std::numeric_limits<float>::quiet_NaN()});
  m.Op("MatMul", {"W"}, "mm");
  EXPECT_THAT(LoadError(m.Save(dir)), HasSubstr("layer 'mm' (dense): parameter is NaN"));
}

TEST(OnnxLoaderTest, TensorSizesAreCheckedBeforeAllocating) {
  TempDir dir;
  ModelBuilder short_data({1, 3});
  short_data.Weight("W", {3, 2}, {1, 2, 3, 4, 5});
  short_data.Op("MatMul", {"W"});
  EXPECT_THAT(LoadError(short_data.Save(dir, "short.onnx")),
              HasSubstr("initializer 'W': float_data has 5 values, expected 6"));

  ModelBuilder raw({1, 3});
  raw.Weight("W", {3, 2}, {1, 2, 3, 4, 5, 6}, /*raw=*/true)->mutable_raw_data()->pop_back();
  raw.Op("MatMul", {"W"});
  EXPECT_THAT(LoadError(raw.Save(dir, "raw.onnx")), HasSubstr("raw_data has 23 bytes"));

  ModelBuilder huge({1, 3});
  huge.Weight("W", {int64_t{1} << 20, int64_t{1} << 20}, {});
  huge.Op("MatMul", {"W"});
  EXPECT_THAT(LoadError(huge.Save(dir, "huge.onnx")), HasSubstr("more than 2^28 elements"));
}

TEST(OnnxLoaderTest, ExternalDataOutsideTheModelFolderIsRefused) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "model");
  testing_onnx::WriteBytes(dir.File("secret.bin"), testing_onnx::LittleEndianFloats({1, 2, 3}));
  std::filesystem::create_symlink(dir.File("secret.bin"), dir.File("model/link.bin"));
  auto model_with = [&](const std::string& location) {
    ModelBuilder m({1, 3});
    onnx::TensorProto* w = m.Weight("W", {3, 1}, {});
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* entry = w->add_external_data();
    entry->set_key("location");
    entry->set_value(location);
    m.Op("MatMul", {"W"});
    return m.Save(dir, "model/model.onnx");
  };
  EXPECT_THAT(LoadError(model_with("../secret.bin")), HasSubstr("leaves the model's folder"));
  EXPECT_THAT(LoadError(model_with(dir.File("secret.bin"))), HasSubstr("is absolute"));
  EXPECT_THAT(LoadError(model_with("link.bin")), HasSubstr("resolves outside the model's folder"));
  EXPECT_THAT(LoadError(model_with("missing.bin")), HasSubstr("cannot open external data"));
}

TEST(OnnxLoaderTest, UnsupportedAttributesAreRefused) {
  TempDir dir;
  auto conv_with = [&](const char* attr, std::vector<int64_t> value) {
    ModelBuilder m({1, 2, 3, 3});
    m.Weight("W", {1, 2, 1, 1}, {1, 1});
    onnx::NodeProto* conv = m.Op("Conv", {"W"}, "conv");
    if (value.size() == 1) {
      SetInt(conv, attr, value[0]);
    } else {
      SetInts(conv, attr, value);
    }
    return LoadError(m.Save(dir, std::string(attr) + ".onnx"));
  };
  EXPECT_THAT(conv_with("group", {2}), HasSubstr("group=2 is not supported; expected group=1"));
  EXPECT_THAT(conv_with("dilations", {2, 2}), HasSubstr("dilations must all be 1"));

  ModelBuilder ceil({1, 1, 4, 4});
  onnx::NodeProto* pool = ceil.Op("MaxPool");
  SetInts(pool, "kernel_shape", {3, 3});
  SetInt(pool, "ceil_mode", 1);
  EXPECT_THAT(LoadError(ceil.Save(dir, "ceil.onnx")), HasSubstr("expected ceil_mode=0"));

  ModelBuilder avg({1, 1, 4, 4});
  pool = avg.Op("AveragePool");
  SetInts(pool, "kernel_shape", {2, 2});
  SetInts(pool, "pads", {1, 1, 1, 1});
  SetInt(pool, "count_include_pad", 1);
  EXPECT_THAT(LoadError(avg.Save(dir, "avg.onnx")), HasSubstr("expected count_include_pad=0"));

  ModelBuilder trans_a({1, 2});
  trans_a.Weight("W", {2, 2}, {1, 0, 0, 1});
  SetInt(trans_a.Op("Gemm", {"W"}), "transA", 1);
  EXPECT_THAT(LoadError(trans_a.Save(dir, "transa.onnx")), HasSubstr("expected transA=0"));
}

TEST(OnnxLoaderTest, UnsupportedGraphShapesAreRefused) {
  TempDir dir;
  ModelBuilder old({1, 2}, /*opset=*/6);
  old.Op("Relu");
  EXPECT_THAT(LoadError(old.Save(dir, "old.onnx")), HasSubstr("opset 6 is too old"));

  ModelBuilder two_inputs({1, 2});
  *two_inputs.graph().add_input() = two_inputs.graph().input(0);
  two_inputs.graph().mutable_input(1)->set_name("y");
  two_inputs.Op("Relu");
  EXPECT_THAT(LoadError(two_inputs.Save(dir, "two.onnx")),
              HasSubstr("found 2 inputs that are not initializers ('x', 'y')"));

  ModelBuilder late_sub({1, 2});
  late_sub.Weight("c", {}, {1});
  late_sub.Op("Relu");
  late_sub.Op("Sub", {"c"}, "late");
  EXPECT_THAT(LoadError(late_sub.Save(dir, "late.onnx")),
              HasSubstr("node 'late' (Sub): Sub with a constant is supported only at the network "
                        "input"));

  ModelBuilder unflatten({1, 4});
  unflatten.Int64s("shape", {1, 1, 2, 2});
  unflatten.Op("Reshape", {"shape"});
  EXPECT_THAT(LoadError(unflatten.Save(dir, "unflatten.onnx")), HasSubstr("is not a flatten"));

  ModelBuilder symbolic({1, -1});
  symbolic.Op("Relu");
  EXPECT_THAT(LoadError(symbolic.Save(dir, "symbolic.onnx")), HasSubstr("dimension 1 is symbolic"));
}

TEST(OnnxLoaderTest, CorruptedBytesGiveAnErrorOrANetworkNeverACrash) {
  TempDir dir;
  ModelBuilder m({1, 1, 4, 4});
  m.Weight("W", {2, 1, 2, 2}, {1, -1, 2, 0.5f}, /*raw=*/true);
  m.Weight("B", {2}, {0.1f, 0.2f});
  m.Weight("F", {2, 18}, std::vector<float>(36, 0.25f), /*raw=*/true);
  m.Op("Conv", {"W", "B"});
  m.Op("Relu");
  SetInts(m.Op("MaxPool"), "kernel_shape", {1, 1});
  m.Op("Flatten");
  SetInt(m.Op("Gemm", {"F"}), "transB", 1);
  m.Save(dir);
  const std::string bytes = m.model().SerializeAsString();
  std::mt19937 rng(7);
  int refused = 0;
  for (int trial = 0; trial < 500; ++trial) {
    std::string corrupt = bytes;
    for (int flips = 1 + trial % 4; flips > 0; --flips) {
      corrupt[rng() % corrupt.size()] = static_cast<char>(rng() & 0xff);
    }
    std::string path = dir.File("corrupt.onnx");
    testing_onnx::WriteBytes(path, corrupt);
    try {
      LoadOnnx(path);
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ExitCode::kBadInput) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
}

TEST(OnnxLoaderTest, MissingFileSaysCannotOpen) {
  std::string error = LoadError("/nonexistent/dir/model.onnx");
  EXPECT_THAT(error, HasSubstr("/nonexistent/dir/model.onnx: cannot open"));
}

}  // namespace
}  // namespace qrepair
