// LoadNnet: the NNet text format of the ACAS Xu networks (Kyle Julian, Stanford 2016), read the
// way Marabou's and the original nnet readers read it.
//
// After the leading "//" comment lines, every line is comma-separated numbers (a trailing comma
// is allowed):
//   numLayers, inputSize, outputSize, maxLayerSize
//   numLayers + 1 layer sizes, the input first
//   a flag line (unused)
//   input mins; input maxs; means (inputs, then the output); ranges (inputs, then the output)
//   then per layer: one line of weights per output neuron, then one line per bias value.
// Hidden layers are ReLU; the last layer is linear.
//
// Semantics kept and dropped:
// - Inputs are normalized to (x - mean) / range by a kNormalize layer.
// - NNet evaluators also clip inputs to [min, max] before normalizing. No layer kind expresses
//   that clip, so it is not applied: keeping inputs inside the box is the caller's job.
// - Outputs are not de-normalized (y * range + mean): that affine map with a positive range
//   changes neither argmax nor argmin, which is all repair compares.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "qrepair/error.h"
#include "qrepair/io/model_loader.h"

namespace qrepair {

namespace {

constexpr int64_t kMaxLayerSize = int64_t{1} << 20;
constexpr int64_t kMaxWeights = int64_t{1} << 28;
constexpr int kMaxLayers = 10000;

// Reads the file a line at a time, counting lines for messages.
class NnetReader {
 public:
  explicit NnetReader(const std::string& path) : path_(path), in_(path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      throw BadInput(path, "", "is a directory, expected an NNet file");
    }
    if (!in_) throw BadInput(path, "", std::string("cannot open: ") + std::strerror(errno));
  }

  // The next data line's numbers; exactly `count` of them unless count < 0.
  std::vector<double> Numbers(int64_t count, const std::string& what) {
    std::string line;
    do {
      if (!std::getline(in_, line)) {
        throw BadInput(path_, "line " + std::to_string(line_number_ + 1),
                       "unexpected end of file; expected " + what);
      }
      ++line_number_;
    } while (IsBlank(line) || (!past_header_ && line.rfind("//", 0) == 0));
    past_header_ = true;
    std::vector<double> values;
    size_t start = 0;
    while (start <= line.size()) {
      size_t comma = line.find(',', start);
      size_t end = comma == std::string::npos ? line.size() : comma;
      std::string field = Trim(line.substr(start, end - start));
      bool last = comma == std::string::npos;
      if (!(field.empty() && last && !values.empty())) {  // a trailing comma ends the line
        values.push_back(ParseNumber(field, values.size() + 1, what));
      }
      if (last) break;
      start = comma + 1;
    }
    if (count >= 0 && static_cast<int64_t>(values.size()) != count) {
      throw Here("expected " + std::to_string(count) + " comma-separated numbers (" + what +
                 "), found " + std::to_string(values.size()));
    }
    return values;
  }

  // After the last bias: anything but blank lines means the header and the body disagree.
  void ExpectEnd(int64_t num_layers) {
    std::string line;
    while (std::getline(in_, line)) {
      ++line_number_;
      if (!IsBlank(line)) {
        throw Here("unexpected data after the biases of layer " + std::to_string(num_layers) +
                   "; expected the end of the file (the header declares " +
                   std::to_string(num_layers) + " layers)");
      }
    }
  }

  Error Here(const std::string& message) const {
    return BadInput(path_, "line " + std::to_string(line_number_), message);
  }

 private:
  static bool IsBlank(const std::string& line) { return Trim(line).empty(); }

  // A field as quoted in a message: at most 32 bytes, other bytes than printable ASCII as \xNN
  // (a NUL byte would otherwise end the message).
  static std::string Printable(const std::string& field) {
    std::string out;
    for (size_t i = 0; i < field.size() && i < 32; ++i) {
      unsigned char c = static_cast<unsigned char>(field[i]);
      if (c >= 0x20 && c < 0x7f) {
        out += static_cast<char>(c);
      } else {
        static const char* kHex = "0123456789abcdef";
        out += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
      }
    }
    return field.size() > 32 ? out + "..." : out;
  }

  static std::string Trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
  }

  double ParseNumber(const std::string& field, size_t index, const std::string& what) const {
    char* end = nullptr;
    double v = field.empty() ? 0.0 : std::strtod(field.c_str(), &end);
    if (field.empty() || end != field.c_str() + field.size()) {
      throw Here("value " + std::to_string(index) + " '" + Printable(field) +
                 "' is not a number (" + what + ")");
    }
    if (!std::isfinite(v)) {
      throw Here("value " + std::to_string(index) + " '" + Printable(field) + "' is not finite (" +
                 what + ")");
    }
    return v;
  }

  std::string path_;
  std::ifstream in_;
  int64_t line_number_ = 0;
  bool past_header_ = false;
};

int64_t AsCount(const NnetReader& reader, double v, int64_t low, int64_t high, const char* what) {
  if (v != std::floor(v) || v < static_cast<double>(low) || v > static_cast<double>(high)) {
    throw reader.Here(std::string(what) + " is " + std::to_string(v) +
                      ", expected an integer from " + std::to_string(low) + " to " +
                      std::to_string(high));
  }
  return static_cast<int64_t>(v);
}

std::vector<float> ToFloats(const std::vector<double>& v, size_t begin, size_t end) {
  return std::vector<float>(v.begin() + begin, v.begin() + end);
}

}  // namespace

Network LoadNnet(const std::string& path) {
  NnetReader reader(path);
  std::vector<double> header = reader.Numbers(4, "numLayers, inputSize, outputSize, maxLayerSize");
  const int64_t num_layers = AsCount(reader, header[0], 1, kMaxLayers, "numLayers");
  const int64_t input_size = AsCount(reader, header[1], 1, kMaxLayerSize, "inputSize");
  const int64_t output_size = AsCount(reader, header[2], 1, kMaxLayerSize, "outputSize");

  std::vector<double> size_values = reader.Numbers(num_layers + 1, "layer sizes");
  std::vector<int64_t> sizes;
  sizes.reserve(size_values.size());
  for (double v : size_values) sizes.push_back(AsCount(reader, v, 1, kMaxLayerSize, "layer size"));
  if (sizes.front() != input_size || sizes.back() != output_size) {
    throw reader.Here("layer sizes run from " + std::to_string(sizes.front()) + " to " +
                      std::to_string(sizes.back()) + ", expected " + std::to_string(input_size) +
                      " to " + std::to_string(output_size) + " from the first line");
  }
  int64_t total = 0;
  for (int64_t l = 0; l < num_layers; ++l) total += sizes[l] * sizes[l + 1];
  if (total > kMaxWeights) {
    throw reader.Here("the layers hold " + std::to_string(total) +
                      " weights; at most 2^28 are supported");
  }

  reader.Numbers(-1, "the flag line");
  reader.Numbers(input_size, "input mins");  // clipping is the caller's job (see top of file)
  reader.Numbers(input_size, "input maxs");
  std::vector<double> means = reader.Numbers(input_size + 1, "input means, then the output mean");
  std::vector<double> ranges =
      reader.Numbers(input_size + 1, "input ranges, then the output range");
  for (int64_t i = 0; i < input_size; ++i) {
    if (!(ranges[i] > 0)) {
      throw reader.Here("range of input " + std::to_string(i + 1) + " is " +
                        std::to_string(ranges[i]) + ", expected a positive number");
    }
  }

  Network network;
  network.name = std::filesystem::path(path).stem().string();
  network.input_shape = Shape{static_cast<int>(input_size), 1, 1};
  Layer normalize;
  normalize.kind = LayerKind::kNormalize;
  normalize.name = "input_normalize";
  normalize.offset = ToFloats(means, 0, input_size);
  normalize.divisor = ToFloats(ranges, 0, input_size);
  network.layers.push_back(std::move(normalize));

  for (int64_t l = 0; l < num_layers; ++l) {
    const int64_t in = sizes[l], out = sizes[l + 1];
    const std::string index = std::to_string(l + 1);
    Layer dense;
    dense.kind = LayerKind::kDense;
    dense.name = "dense_" + index;
    dense.weights.reserve(static_cast<size_t>(in * out));
    for (int64_t u = 0; u < out; ++u) {
      std::vector<double> row =
          reader.Numbers(in, "layer " + index + " weights of neuron " + std::to_string(u + 1));
      dense.weights.insert(dense.weights.end(), row.begin(), row.end());
    }
    for (int64_t u = 0; u < out; ++u) {
      dense.bias.push_back(static_cast<float>(
          reader.Numbers(1, "layer " + index + " bias of neuron " + std::to_string(u + 1))[0]));
    }
    network.layers.push_back(std::move(dense));
    if (l + 1 == num_layers) reader.ExpectEnd(num_layers);
    if (l + 1 < num_layers) {
      Layer relu;
      relu.kind = LayerKind::kRelu;
      relu.name = "relu_" + index;
      network.layers.push_back(std::move(relu));
    }
  }
  ValidateNetwork(network, path);
  return network;
}

}  // namespace qrepair
