// Test support: builds small ONNX models with the protobuf classes and writes them to a private
// temporary folder, so the loader tests need no model files in the repository.
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "qrepair/error.h"
#include "qrepair/model/network.h"
#include "qrepair/quant/forward.h"

namespace qrepair {
namespace testing_onnx {

// A folder under the system temp dir, named after the running test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("qrepair_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
             std::to_string(getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string LittleEndianFloats(const std::vector<float>& values) {
  std::string bytes;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
  return bytes;
}

// A graph with input "x" whose nodes form a chain: each Op() reads the previous node's output.
class ModelBuilder {
 public:
  explicit ModelBuilder(const std::vector<int64_t>& input_dims, int64_t opset = 13) {
    model_.set_ir_version(7);
    auto* import = model_.add_opset_import();
    import->set_domain("");
    import->set_version(opset);
    graph_ = model_.mutable_graph();
    graph_->set_name("test");
    auto* tensor = graph_->add_input()->mutable_type()->mutable_tensor_type();
    graph_->mutable_input(0)->set_name("x");
    tensor->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : input_dims) {
      auto* dim = tensor->mutable_shape()->add_dim();
      if (d < 0) {
        dim->set_dim_param("N");
      } else {
        dim->set_dim_value(d);
      }
    }
  }

  // A FLOAT initializer in float_data, or in little-endian raw_data.
  onnx::TensorProto* Weight(const std::string& name, const std::vector<int64_t>& dims,
                            const std::vector<float>& values, bool raw = false) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    if (raw) {
      t->set_raw_data(LittleEndianFloats(values));
    } else {
      for (float v : values) t->add_float_data(v);
    }
    return t;
  }

  onnx::TensorProto* Int64s(const std::string& name, const std::vector<int64_t>& values) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return t;
  }

  // Appends `op` reading the chain's tensor, then `constants`.
  onnx::NodeProto* Op(const std::string& op, const std::vector<std::string>& constants = {},
                      const std::string& name = "") {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    if (!name.empty()) node->set_name(name);
    node->add_input(last_);
    for (const std::string& c : constants) node->add_input(c);
    last_ = "t" + std::to_string(graph_->node_size());
    node->add_output(last_);
    return node;
  }

  std::string Save(const TempDir& dir, const std::string& file = "model.onnx") {
    if (graph_->output_size() == 0) graph_->add_output()->set_name(last_);
    std::string path = dir.File(file);
    WriteBytes(path, model_.SerializeAsString());
    return path;
  }

  onnx::ModelProto& model() { return model_; }
  onnx::GraphProto& graph() { return *graph_; }
  const std::string& last() const { return last_; }

 private:
  onnx::ModelProto model_;
  onnx::GraphProto* graph_;
  std::string last_ = "x";
};

inline void SetInt(onnx::NodeProto* node, const std::string& name, int64_t v) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

inline void SetFloat(onnx::NodeProto* node, const std::string& name, float v) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

inline void SetInts(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

inline void SetString(onnx::NodeProto* node, const std::string& name, const std::string& v) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

// The float network's output for one sample.
inline std::vector<float> Outputs(const Network& network, const std::vector<float>& x) {
  FloatBatch input = Eigen::Map<const FloatBatch>(x.data(), static_cast<Eigen::Index>(x.size()), 1);
  FloatBatch out = ForwardFloat(network, input);
  return std::vector<float>(out.data(), out.data() + out.rows());
}

// The message of the BadInput error `load` throws; fails the test when it throws none.
template <typename Load>
std::string ErrorOf(Load load) {
  try {
    load();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected a BadInput error";
  return "";
}

}  // namespace testing_onnx
}  // namespace qrepair
