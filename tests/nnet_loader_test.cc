// LoadNnet on small hand-written NNet files: layers, input normalization, and errors that name
// the line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "qrepair/error.h"
#include "qrepair/io/model_loader.h"
#include "qrepair/quant/forward.h"

namespace qrepair {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatEq;
using ::testing::HasSubstr;

// Line numbers matter to the error tests: line 10 is the first weight row.
const char* const kTiny =
    "// A 2-2-1 network\n"
    "// second comment line\n"
    "2,2,1,2,\n"
    "2,2,1,\n"
    "0,\n"
    "-10,-10,\n"
    "10,10,\n"
    "1,2,0.5,\n"
    "2,4,3,\n"
    "1,-1,\n"
    "0,1,\n"
    "0.5,\n"
    "-0.5,\n"
    "1,1,\n"
    "0.25,\n";

class NnetFile {
 public:
  explicit NnetFile(const std::string& text, const std::string& name = "tiny.nnet") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("qrepair_nnet_" + std::string(info->name()) + "_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / name).string();
    std::ofstream(path_) << text;
  }
  ~NnetFile() { std::filesystem::remove_all(dir_); }
  const std::string& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

// `text` with line `line` (1-based) replaced.
std::string WithLine(std::string text, int line, const std::string& replacement) {
  size_t begin = 0;
  for (int i = 1; i < line; ++i) begin = text.find('\n', begin) + 1;
  size_t end = text.find('\n', begin);
  return text.substr(0, begin) + replacement + text.substr(end);
}

std::string WithLine(int line, const std::string& replacement) {
  return WithLine(kTiny, line, replacement);
}

std::string LoadError(const std::string& text) {
  NnetFile file(text);
  try {
    LoadNnet(file.path());
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    return e.what();
  }
  ADD_FAILURE() << "expected a BadInput error";
  return "";
}

std::vector<float> Outputs(const Network& network, std::vector<float> x) {
  FloatBatch input = Eigen::Map<FloatBatch>(x.data(), static_cast<Eigen::Index>(x.size()), 1);
  FloatBatch out = ForwardFloat(network, input);
  return std::vector<float>(out.data(), out.data() + out.rows());
}

TEST(NnetLoaderTest, BuildsNormalizeThenDenseReluDense) {
  NnetFile file(kTiny);
  Network net = LoadNnet(file.path());
  EXPECT_EQ(net.input_shape, (Shape{2, 1, 1}));
  ASSERT_EQ(net.layers.size(), 4u);
  EXPECT_EQ(net.layers[0].kind, LayerKind::kNormalize);
  EXPECT_THAT(net.layers[0].offset, ElementsAre(1, 2));   // input means, not the output's
  EXPECT_THAT(net.layers[0].divisor, ElementsAre(2, 4));  // input ranges
  EXPECT_EQ(net.layers[1].kind, LayerKind::kDense);
  EXPECT_THAT(net.layers[1].weights, ElementsAre(1, -1, 0, 1));
  EXPECT_THAT(net.layers[1].bias, ElementsAre(0.5f, -0.5f));
  EXPECT_EQ(net.layers[2].kind, LayerKind::kRelu);
  EXPECT_EQ(net.layers[3].kind, LayerKind::kDense);
  EXPECT_EQ(net.NumClasses(), 1);
  // Outputs stay normalized: no * range + mean.
  EXPECT_THAT(Outputs(net, {3, 6}), ElementsAre(FloatEq(1.25f)));
  EXPECT_THAT(Outputs(net, {1, 2}), ElementsAre(FloatEq(0.75f)));
}

TEST(NnetLoaderTest, AcceptsLinesWithoutTrailingCommasAndBlankLines) {
  std::string text = WithLine(WithLine(10, "1, -1\r"), 3, "\n2,2,1,2");
  NnetFile file(text);
  EXPECT_EQ(LoadNnet(file.path()).layers.size(), 4u);
}

TEST(NnetLoaderTest, WrongCountNamesFileAndLine) {
  std::string error = LoadError(WithLine(10, "1,"));
  EXPECT_THAT(error, HasSubstr("tiny.nnet: line 10: expected 2 comma-separated numbers (layer 1 "
                               "weights of neuron 1), found 1"));
  EXPECT_THAT(LoadError(WithLine(3, "2,2,1,")),
              HasSubstr("line 3: expected 4 comma-separated numbers"));
}

TEST(NnetLoaderTest, BadNumbersAndTruncationAreRefused) {
  EXPECT_THAT(LoadError(WithLine(11, "0,abc,")),
              HasSubstr("line 11: value 2 'abc' is not a number"));
  EXPECT_THAT(LoadError(WithLine(11, "0,nan,")), HasSubstr("line 11: value 2 'nan' is not finite"));
  std::string text = kTiny;
  EXPECT_THAT(LoadError(text.substr(0, text.find("1,1,\n"))),
              HasSubstr("line 14: unexpected end of file; expected layer 2 weights of neuron 1"));
}

TEST(NnetLoaderTest, InconsistentHeaderIsRefusedBeforeAllocating) {
  EXPECT_THAT(LoadError(WithLine(4, "2,2,2,")),
              HasSubstr("line 4: layer sizes run from 2 to 2, expected 2 to 1"));
  EXPECT_THAT(LoadError(WithLine(4, "3,2,1,")),
              HasSubstr("layer sizes run from 3 to 1, expected 2 to 1"));
  EXPECT_THAT(LoadError(WithLine(3, "2,2,1.5,2,")),
              HasSubstr("line 3: outputSize is 1.500000, expected an integer"));
  std::string huge = "3,1000000,1000000,1000000,\n1000000,1000000,1000000,1000000,\n";
  EXPECT_THAT(LoadError(huge), HasSubstr("at most 2^28 are supported"));
  EXPECT_THAT(LoadError(WithLine(9, "2,0,3,")),
              HasSubstr("line 9: range of input 2 is 0.000000, expected a positive number"));
}

TEST(NnetLoaderTest, MissingFileSaysCannotOpen) {
  try {
    LoadNnet("/nonexistent/net.nnet");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("/nonexistent/net.nnet: cannot open"));
  }
}

TEST(ModelLoaderTest, SniffsNnetContentWithAnUnknownExtension) {
  NnetFile file(kTiny, "acas.txt");
  Network net = LoadFloatNetwork(file.path());
  EXPECT_EQ(net.layers[0].kind, LayerKind::kNormalize);
  EXPECT_EQ(net.name, "acas");
}

}  // namespace
}  // namespace qrepair
