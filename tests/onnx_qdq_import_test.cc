// The int8 ONNX importer: qrepair's own QDQ export reads back as the identical integer network
// (random dense and convolutional networks, per tensor and per channel, with and without zero
// points and requantized logits), and malformed models are refused naming the node.
#include "qrepair/io/onnx_qdq_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <random>

#include "onnx_model_builder.h"
#include "qrepair/error.h"
#include "qrepair/export/onnx_export.h"
#include "qrepair/io/model_source.h"
#include "random_networks.h"

namespace qrepair {
namespace {

using ::testing::HasSubstr;
using testing_onnx::TempDir;

// ONNX stores scales as float32: the network the file can hold exactly has float32 scales (the
// int32 logits' scale travels in the "logit_scale" metadata as a double).
void RoundScalesToFloat(QuantizedNetwork& q) {
  auto to_float = [](double& s) { s = static_cast<double>(static_cast<float>(s)); };
  to_float(q.input.scale);
  for (size_t i = 0; i < q.layers.size(); ++i) {
    QuantLayer& l = q.layers[i];
    to_float(l.input.scale);
    if (l.output.bits < 32) to_float(l.output.scale);
    for (double& s : l.weight_scales) to_float(s);
    l.UpdateMultipliers();
  }
}

void ExpectSameCode(const ActivationCode& a, const ActivationCode& b, const std::string& what) {
  EXPECT_EQ(a.scale, b.scale) << what;
  EXPECT_EQ(a.bits, b.bits) << what;
  EXPECT_EQ(a.is_signed, b.is_signed) << what;
  EXPECT_EQ(a.zero_point, b.zero_point) << what;
}

bool HasZeroPoints(const QuantizedNetwork& q) {
  bool any = q.input.zero_point != 0;
  for (const QuantLayer& l : q.layers) any = any || l.output.zero_point != 0;
  return any;
}

void ExpectSameNetwork(const QuantizedNetwork& a, const QuantizedNetwork& b) {
  ExpectSameCode(a.input, b.input, "input");
  EXPECT_EQ(a.input_shape, b.input_shape);
  EXPECT_EQ(a.decision, b.decision);
  EXPECT_EQ(a.config.logit_bits, b.config.logit_bits);
  // The recipe's flag says what the codes show: asymmetric when a zero point is not 0.
  EXPECT_EQ(b.config.activation_symmetric, !HasZeroPoints(a));
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const QuantLayer& x = a.layers[i];
    const QuantLayer& y = b.layers[i];
    const std::string what = "layer " + std::to_string(i) + " '" + x.name + "'";
    EXPECT_EQ(x.kind, y.kind) << what;
    EXPECT_EQ(x.name, y.name) << what;
    EXPECT_EQ(x.input_shape, y.input_shape) << what;
    EXPECT_EQ(x.output_shape, y.output_shape) << what;
    EXPECT_TRUE(x.window == y.window) << what;
    EXPECT_EQ(x.activation, y.activation) << what;
    if (x.activation == QActivation::kLeakyRelu) EXPECT_EQ(x.leaky_alpha, y.leaky_alpha) << what;
    ExpectSameCode(x.input, y.input, what + " input");
    ExpectSameCode(x.output, y.output, what + " output");
    if (!x.IsLinear()) continue;
    EXPECT_EQ(x.weights_q, y.weights_q) << what;
    EXPECT_EQ(x.bias_q, y.bias_q) << what;
    EXPECT_EQ(x.weight_scales, y.weight_scales) << what;
    EXPECT_EQ(x.requant, y.requant) << what;
    EXPECT_EQ(x.requant_neg, y.requant_neg) << what;
  }
}

std::string WriteExport(const TempDir& dir, const QuantizedNetwork& q, const Network& f) {
  std::string path = dir.File("model_int8.onnx");
  testing_onnx::WriteBytes(path, ExportOnnxQdq(q, f));
  return path;
}

// A random case exported with half-even rounding (the exporter's only mode); the other semantics
// are crossed: zero points, requantized logits, per-tensor/per-channel and dense/conv (random).
TEST(OnnxQdqImportTest, QrepairExportReadsBackAsTheIdenticalIntegerNetwork) {
  std::mt19937_64 rng(20260318);
  int tested = 0, with_zero_points = 0, per_channel = 0, conv = 0, requantized_logits = 0;
  for (int n = 0; tested < 40; ++n) {
    ASSERT_LT(n, 400) << "too few cases without average pooling";
    testing::RandomCase c = testing::MakeRandomCase(rng, 64, n % 2 == 1);
    bool avg_pool = false;
    for (const Layer& l : c.network.layers) avg_pool = avg_pool || l.kind == LayerKind::kAvgPool;
    if (avg_pool) continue;  // refused by the importer (average pooling has no exact QDQ meaning)
    QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& config) {
      config.rounding = RoundingMode::kHalfEven;
      config.activation_symmetric = (n / 2) % 2 == 0;
      config.logit_bits = (n / 4) % 2 == 0 ? 32 : 8;
    });
    if (n % 3 == 0) testing::PerturbWeights(q, rng);
    RoundScalesToFloat(q);
    TempDir dir;
    const std::string path = WriteExport(dir, q, c.network);
    ASSERT_TRUE(IsQuantizedOnnx(path));
    const ModelFile file = LoadQuantizedOnnx(path);
    SCOPED_TRACE("case " + std::to_string(n));
    ExpectSameNetwork(q, file.quantized);
    EXPECT_TRUE(file.float_network.stand_in);
    const CodeBatch codes = QuantizeInput(q, c.inputs);
    EXPECT_EQ(QuantizeInput(file.quantized, c.inputs), codes);
    EXPECT_EQ(ForwardInteger(file.quantized, codes), ForwardInteger(q, codes));
    ++tested;
    with_zero_points += HasZeroPoints(q);
    per_channel += q.layers[q.LogitLayer()].weight_scales.size() > 1;
    conv += q.layers[0].kind == LayerKind::kConv2d;
    requantized_logits += q.config.logit_bits < 32;
  }
  EXPECT_GT(with_zero_points, 5);
  EXPECT_GT(per_channel, 5);
  EXPECT_GT(conv, 5);
  EXPECT_GT(requantized_logits, 5);
}

TEST(OnnxQdqImportTest, ArgminExportReadsBackWithItsDecision) {
  std::mt19937_64 rng(7);
  testing::RandomCase c = testing::MakeRandomCase(rng, 32, false);
  OrientForDecision(c.network, Decision::kArgmin, "random");
  QuantizedNetwork q = testing::QuantizedWith(c, [](QuantConfig& config) {
    config.decision = Decision::kArgmin;
    config.rounding = RoundingMode::kHalfEven;
  });
  RoundScalesToFloat(q);
  TempDir dir;
  const ModelFile file = LoadQuantizedOnnx(WriteExport(dir, q, c.network));
  ExpectSameNetwork(q, file.quantized);
  EXPECT_TRUE(file.float_network.outputs_negated);
}

TEST(OnnxQdqImportTest, FloatModelsAndOtherFilesAreNotQuantizedOnnx) {
  EXPECT_FALSE(IsQuantizedOnnx(std::string(QREPAIR_SOURCE_DIR) + "/models/tiny_mlp.onnx"));
  EXPECT_FALSE(IsQuantizedOnnx(std::string(QREPAIR_SOURCE_DIR) + "/README.md"));
  EXPECT_FALSE(IsQuantizedOnnx("/nonexistent/model.onnx"));
}

// ---- Other producers' layouts of the same network, made by rewriting qrepair's export ----

class OnnxQdqLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(23);
    testing::RandomCase c = testing::MakeRandomCase(rng, 32, false);
    inputs_ = c.inputs;
    q_ = testing::QuantizedWith(c, [](QuantConfig& config) {
      config.rounding = RoundingMode::kHalfEven;
      config.activation_bits = 8;
      config.defaults.weight_bits = 8;
      config.defaults.granularity = Granularity::kPerChannel;
    });
    RoundScalesToFloat(q_);
    ASSERT_TRUE(model_.ParseFromString(ExportOnnxQdq(q_, c.network)));
  }
  onnx::TensorProto* Initializer(const std::string& name) {
    for (auto& t : *model_.mutable_graph()->mutable_initializer()) {
      if (t.name() == name) return &t;
    }
    ADD_FAILURE() << "no initializer " << name;
    return nullptr;
  }
  onnx::NodeProto* Node(const std::string& name) {
    for (auto& n : *model_.mutable_graph()->mutable_node()) {
      if (n.name() == name) return &n;
    }
    ADD_FAILURE() << "no node " << name;
    return nullptr;
  }
  QuantizedNetwork Load() {
    const std::string path = dir_.File("layout.onnx");
    testing_onnx::WriteBytes(path, model_.SerializeAsString());
    return LoadQuantizedOnnx(path).quantized;
  }
  TempDir dir_;
  QuantizedNetwork q_;
  FloatBatch inputs_;
  onnx::ModelProto model_;
};

// Gemm(x, DQ(W), DQ(b)) as MatMul(x, DQ(W^T) with axis 1) then Add(DQ(b)): the same network.
TEST_F(OnnxQdqLayoutTest, MatMulAndAddReadAsTheGemm) {
  {  // the first layer
    const std::string id = "0_" + q_.layers[0].name;
    onnx::TensorProto* w = Initializer(id + "/weight_q");
    const int64_t units = w->dims(0), fan_in = w->dims(1);
    std::string transposed(w->raw_data().size(), '\0');
    for (int64_t u = 0; u < units; ++u) {
      for (int64_t j = 0; j < fan_in; ++j)
        transposed[j * units + u] = w->raw_data()[u * fan_in + j];
    }
    w->set_raw_data(transposed);
    w->set_dims(0, fan_in);
    w->set_dims(1, units);
    Node(id + "/weight")->mutable_attribute(0)->set_i(1);  // per-axis along the units' axis
    onnx::NodeProto* gemm = Node(id + "/Gemm");
    gemm->set_op_type("MatMul");
    const std::string bias = gemm->input(2);
    gemm->mutable_input()->RemoveLast();
    gemm->clear_attribute();
    const std::string out = gemm->output(0);
    gemm->set_output(0, out + "_matmul");
    onnx::NodeProto add;
    add.set_op_type("Add");
    add.set_name(id + "/Add");
    add.add_input(bias);
    add.add_input(out + "_matmul");  // the data second: Add commutes
    add.add_output(out);
    auto* nodes = model_.mutable_graph()->mutable_node();
    int at = 0;
    while (nodes->Get(at).name() != id + "/Gemm") ++at;
    nodes->Add()->CopyFrom(add);
    for (int k = nodes->size() - 1; k > at + 1; --k) nodes->SwapElements(k, k - 1);
  }
  const QuantizedNetwork imported = Load();
  ExpectSameNetwork(q_, imported);
  const CodeBatch codes = QuantizeInput(q_, inputs_);
  EXPECT_EQ(ForwardInteger(imported, codes), ForwardInteger(q_, codes));
}

// A FLOAT bias is quantized to s_x * s_w (half to even); a bias scale of 2 s_x s_w moves the
// codes to s_x s_w (doubled).
TEST_F(OnnxQdqLayoutTest, FloatAndRescaledBiasesGoToTheAccumulatorScale) {
  const QuantLayer& first = q_.layers[0];
  const std::string id = "0_" + first.name;
  std::vector<float> real(static_cast<size_t>(first.Units()));
  for (int u = 0; u < first.Units(); ++u) {
    real[u] = static_cast<float>(static_cast<double>(first.bias_q[u]) * first.WeightScale(u) *
                                 first.input.scale);
  }
  onnx::TensorProto* b = model_.mutable_graph()->add_initializer();
  b->set_name("float_bias");
  b->set_data_type(onnx::TensorProto::FLOAT);
  b->add_dims(first.Units());
  b->set_raw_data(testing_onnx::LittleEndianFloats(real));
  Node(id + "/Gemm")->set_input(2, "float_bias");
  const int last = q_.LogitLayer();
  ASSERT_GT(last, 0);
  onnx::TensorProto* scale =
      Initializer(std::to_string(last) + "_" + q_.layers[last].name + "/bias_scale");
  std::vector<float> doubled(scale->raw_data().size() / 4);
  std::memcpy(doubled.data(), scale->raw_data().data(), scale->raw_data().size());
  for (float& f : doubled) f *= 2.0f;
  scale->set_raw_data(testing_onnx::LittleEndianFloats(doubled));
  const QuantizedNetwork imported = Load();
  std::vector<int64_t> twice = q_.layers[last].bias_q;
  for (int64_t& v : twice) v *= 2;
  EXPECT_EQ(imported.layers[last].bias_q, twice);
  EXPECT_EQ(imported.layers[0].bias_q, first.bias_q);
}

// ---- Malformed models: each mutation of a valid export is refused naming the node ----

class OnnxQdqRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(11);
    testing::RandomCase c = testing::MakeRandomCase(rng, 16, false);
    q_ = testing::QuantizedWith(c, [](QuantConfig& config) {
      config.rounding = RoundingMode::kHalfEven;
      config.activation_bits = 8;
      config.defaults.weight_bits = 8;
    });
    ASSERT_TRUE(model_.ParseFromString(ExportOnnxQdq(q_, c.network)));
  }
  onnx::TensorProto* Initializer(const std::string& suffix) {
    for (auto& t : *model_.mutable_graph()->mutable_initializer()) {
      if (t.name().size() >= suffix.size() &&
          t.name().compare(t.name().size() - suffix.size(), suffix.size(), suffix) == 0)
        return &t;
    }
    ADD_FAILURE() << "no initializer ending in " << suffix;
    return nullptr;
  }
  std::string Error() {
    const std::string path = dir_.File("bad.onnx");
    testing_onnx::WriteBytes(path, model_.SerializeAsString());
    try {
      LoadQuantizedOnnx(path);
    } catch (const qrepair::Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kBadInput) << e.what();
      EXPECT_THAT(e.what(), HasSubstr(path));
      return e.what();
    }
    ADD_FAILURE() << "loaded";
    return "";
  }
  TempDir dir_;
  QuantizedNetwork q_;
  onnx::ModelProto model_;
};

TEST_F(OnnxQdqRefusalTest, NonZeroWeightZeroPoint) {
  onnx::TensorProto* zero = Initializer("/weight_zero_point");
  std::string raw = zero->raw_data();  // one per channel (per-axis) or one
  raw[0] = '\x03';
  zero->set_raw_data(raw);
  const std::string e = Error();
  EXPECT_THAT(e, HasSubstr("/weight' (DequantizeLinear)"));
  EXPECT_THAT(e, HasSubstr("weight zero point 3"));
}

TEST_F(OnnxQdqRefusalTest, ScaleOfTheWrongType) {
  onnx::TensorProto* scale = Initializer("input/scale");
  scale->set_data_type(onnx::TensorProto::DOUBLE);
  scale->set_raw_data(std::string(8, '\0'));
  const std::string e = Error();
  EXPECT_THAT(e, HasSubstr("node 'input/QuantizeLinear' (QuantizeLinear)"));
  EXPECT_THAT(e, HasSubstr("scale is DOUBLE, expected a FLOAT tensor"));
}

TEST_F(OnnxQdqRefusalTest, MissingInitializer) {
  auto* inits = model_.mutable_graph()->mutable_initializer();
  for (int i = 0; i < inits->size(); ++i) {
    if (inits->Get(i).name() == "input/scale") {
      inits->DeleteSubrange(i, 1);
      break;
    }
  }
  EXPECT_THAT(Error(), HasSubstr("node 'input/QuantizeLinear' (QuantizeLinear): input "
                                 "'input/scale' is not a constant"));
}

TEST_F(OnnxQdqRefusalTest, MultiplierOfAtLeastTwoToThe31) {
  // The first hidden output's scale made tiny: s_w * s_x / s_y >= 2^31.
  const QuantLayer& first = q_.layers[0];
  onnx::TensorProto* scale = Initializer("0_" + first.name + "/scale");
  const float tiny = 1e-30f;
  scale->set_raw_data(testing_onnx::LittleEndianFloats({tiny}));
  const std::string e = Error();
  EXPECT_THAT(e, HasSubstr("'0_" + first.name + "/Gemm' (Gemm)"));
  EXPECT_THAT(e, HasSubstr(">= 2^31"));
}

TEST_F(OnnxQdqRefusalTest, SixteenBitQuantizeLinear) {
  onnx::TensorProto* zero = Initializer("input/zero_point");
  zero->set_data_type(onnx::TensorProto::UINT16);
  zero->set_raw_data(std::string(2, '\0'));
  EXPECT_THAT(Error(), HasSubstr("data type UINT16 is not supported"));
}

TEST_F(OnnxQdqRefusalTest, DequantizeWithOtherParameters) {
  for (auto& node : *model_.mutable_graph()->mutable_node()) {
    if (node.name() == "input/DequantizeLinear")
      node.set_input(1, "0_" + q_.layers[0].name + "/scale");
  }
  EXPECT_THAT(Error(), HasSubstr("node 'input/DequantizeLinear' (DequantizeLinear): dequantizes "
                                 "with scale"));
}

TEST_F(OnnxQdqRefusalTest, UnsupportedOperator) {
  for (auto& node : *model_.mutable_graph()->mutable_node()) {
    if (node.op_type() == "Relu") node.set_op_type("Softmax");
  }
  EXPECT_THAT(Error(), HasSubstr("operator Softmax is not supported in a quantized model"));
}

}  // namespace
}  // namespace qrepair
