// Layer-by-layer re-rounding of a quantized network's weights (RTN, GPTQ, GPTQ towards float).
#include "qrepair/quant/init.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "qrepair/error.h"
#include "quant/gptq.h"
#include "quant/layer_fit.h"

namespace qrepair {

InitMethod ParseInitMethod(const std::string& name, const std::string& flag) {
  if (name == "rtn") return InitMethod::kRtn;
  if (name == "gptq") return InitMethod::kGptq;
  if (name == "gptq-float") return InitMethod::kGptqFloat;
  throw Error(ExitCode::kUsage,
              flag + ": unknown initializer '" + name + "', expected rtn, gptq or gptq-float");
}

const char* InitMethodName(InitMethod method) {
  switch (method) {
    case InitMethod::kRtn:
      return "rtn";
    case InitMethod::kGptq:
      return "gptq";
    case InitMethod::kGptqFloat:
      return "gptq-float";
  }
  return "unknown";
}

namespace {

constexpr int64_t kMaxFanIn = 8192;  // H is fan_in^2 doubles

using gptq::Checkpoint;

// Thrown by the init's checkpoint once should_stop says so; InitializeWeights catches it.
struct Stopped {};

// `batch` (one column per sample) through `step`, `chunk` columns at a time: only the batch at
// the next linear layer is kept whole, not the (often much larger) activations in between.
// Measured on Convnet_maxpool with --augment shift8 (45,000 images): the init's peak fell from
// 12.8 GB, the conv output of every image at once, to 1.47 GB (docs/benchmarks.md).
template <typename Batch, typename Step>
Batch Chunked(const Batch& batch, int64_t chunk, const Checkpoint& checkpoint, const Step& step) {
  const int64_t n = batch.cols();
  chunk = std::max<int64_t>(1, chunk);
  checkpoint();
  if (n <= chunk) return step(Batch(batch));
  Batch first = step(Batch(batch.leftCols(chunk)));
  Batch out(first.rows(), n);
  out.leftCols(chunk) = first;
  for (int64_t c = chunk; c < n; c += chunk) {
    checkpoint();
    const int64_t m = std::min(chunk, n - c);
    out.middleCols(c, m) = step(Batch(batch.middleCols(c, m)));
  }
  return out;
}

// The quantized network's state through layers [from, to).
void Advance(const QuantizedNetwork& qnet, size_t from, size_t to, int64_t chunk,
             const Checkpoint& checkpoint, QuantState& state) {
  if (from >= to) return;
  if (qnet.float_activations) {
    std::vector<Layer> layers;
    for (size_t i = from; i < to; ++i) layers.push_back(DequantizedLayer(qnet.layers[i]));
    state.values = Chunked(state.values, chunk, checkpoint, [&](FloatBatch x) {
      for (const Layer& l : layers) x = ForwardFloatLayer(l, x);
      return x;
    });
  } else {
    state.codes = Chunked(state.codes, chunk, checkpoint, [&](CodeBatch x) {
      for (size_t i = from; i < to; ++i) x = ForwardIntegerLayer(qnet.layers[i], x);
      return x;
    });
  }
}

}  // namespace

QuantizedNetwork InitializeWeights(const Network& float_net, const QuantizedNetwork& qnet,
                                   const FloatBatch& calibration, InitMethod method,
                                   const std::function<bool()>& should_stop, int64_t chunk_samples,
                                   InitSummary* summary) {
  QuantizedNetwork out = qnet;
  InitSummary local;
  InitSummary& sum = summary != nullptr ? *summary : local;
  sum = InitSummary();
  for (const QuantLayer& q : qnet.layers) sum.layers += q.IsLinear() ? 1 : 0;
  if (method == InitMethod::kRtn) {
    sum.rerounded = sum.layers;
    return out;
  }
  if (calibration.rows() != float_net.input_shape.Size() || calibration.cols() == 0) {
    throw InternalError("InitializeWeights: calibration batch has " +
                        std::to_string(calibration.rows()) + " rows and " +
                        std::to_string(calibration.cols()) + " samples, expected " +
                        std::to_string(float_net.input_shape.Size()) + " rows");
  }
  std::unordered_map<std::string, size_t> float_index;
  for (size_t i = 0; i < float_net.layers.size(); ++i) {
    if (float_net.layers[i].IsLinear()) float_index[float_net.layers[i].name] = i;
  }
  const Checkpoint checkpoint = [&should_stop] {
    if (should_stop && should_stop()) throw Stopped{};
  };

  QuantState state;
  size_t i = 0;  // the layer being worked on
  try {
    if (out.float_activations) {
      state.values = calibration;
      if (!out.input_offset.empty()) {  // the leading Normalize
        Layer norm;
        norm.kind = LayerKind::kNormalize;
        norm.input_shape = norm.output_shape = out.input_shape;
        norm.offset = out.input_offset;
        norm.divisor = out.input_divisor;
        state.values = ForwardFloatLayer(norm, state.values);
      }
    } else {
      state.codes = QuantizeInput(out, calibration);
    }
    FloatBatch x_float = calibration;  // the float network's activation before layer `float_pos`
    size_t float_pos = 0;

    // The state is carried from linear layer to linear layer (Advance), chunk by chunk.
    size_t advanced = 0;  // state holds the input of out.layers[advanced]
    for (i = 0; i < out.layers.size(); ++i) {
      QuantLayer& q = out.layers[i];
      if (!q.IsLinear()) continue;
      checkpoint();
      Advance(out, advanced, i, chunk_samples, checkpoint, state);
      advanced = i;
      auto it = float_index.find(q.name);
      const Layer* f = it == float_index.end() ? nullptr : &float_net.layers[it->second];
      if (f == nullptr || f->kind != q.kind || f->FanIn() != q.FanIn() || f->Units() != q.Units() ||
          f->input_shape != q.input_shape || f->output_shape != q.output_shape) {
        throw InternalError("InitializeWeights: quantized layer '" + q.name +
                            "' has no float layer of the same name, kind and shape");
      }
      if (q.FanIn() > kMaxFanIn) {
        spdlog::warn("init {}: layer '{}' has {} inputs per unit (more than {}); keeping RTN",
                     InitMethodName(method), q.name, q.FanIn(), kMaxFanIn);
      } else {
        if (method == InitMethod::kGptqFloat && float_pos < it->second) {
          x_float = Chunked(x_float, chunk_samples, checkpoint, [&](FloatBatch x) {
            for (size_t p = float_pos; p < it->second; ++p) {
              x = ForwardFloatLayer(float_net.layers[p], x);
            }
            return x;
          });
          float_pos = it->second;
        }
        const auto layer_begin = std::chrono::steady_clock::now();
        ReroundLayer(q, *f, out, state, &x_float, static_cast<int>(i) == out.LogitLayer(), method,
                     checkpoint);
        // One line per layer: on big layers the init takes minutes, and this is its progress.
        spdlog::info(
            "init {}: layer '{}' ({} of {}, {}x{}) re-derived in {:.1f} s", InitMethodName(method),
            q.name, sum.rerounded + 1, sum.layers, q.Units(), q.FanIn(),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - layer_begin).count());
      }
      ++sum.rerounded;
    }
  } catch (const Stopped&) {
    // ReroundLayer writes its layer only once it is finished: layer i is as it was in qnet.
    sum.complete = false;
    sum.stopped_at = i < out.layers.size() ? out.layers[i].name : "";
    spdlog::warn(
        "init {}: stopped at layer '{}'; {} of {} linear layers re-derived, the others "
        "keep their round-to-nearest weights",
        InitMethodName(method), sum.stopped_at, sum.rerounded, sum.layers);
  }
  return out;
}

Augmentation ParseAugmentation(const std::string& text, const std::string& flag) {
  Augmentation a;
  if (text == "none" || text.empty()) return a;
  if (text == "auto") {
    a.automatic = true;
    return a;
  }
  const size_t colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  if (kind == "shift") {
    a.shifts = 4;
  } else if (kind == "shift8") {
    a.shifts = 8;
  } else {
    throw Error(
        ExitCode::kUsage,
        flag + ": expected none, shift, shift8, shift:HxW, shift8:HxW or auto, got '" + text + "'");
  }
  if (colon != std::string::npos) {
    const std::string size = text.substr(colon + 1);
    char x = 0;
    char rest = 0;
    if (std::sscanf(size.c_str(), "%d%c%d%c", &a.height, &x, &a.width, &rest) != 3 || x != 'x' ||
        a.height < 2 || a.width < 2 || a.height > 65536 || a.width > 65536) {
      throw Error(
          ExitCode::kUsage,
          flag + ": expected an image size HxW (each 2..65536) after ':', got '" + size + "'");
    }
  }
  return a;
}

std::string AugmentationName(const Augmentation& a) {
  if (a.automatic) return "auto";
  if (a.shifts == 0) return "none";
  std::string name = a.shifts == 8 ? "shift8" : "shift";
  if (a.height > 0) name += ":" + std::to_string(a.height) + "x" + std::to_string(a.width);
  return name;
}

Augmentation ResolveAugmentation(const Augmentation& a, const std::vector<int64_t>& sample_shape,
                                 const Shape& input, std::string* why) {
  if (!a.automatic) {
    *why = "given";
    return a;
  }
  Augmentation out;
  if (input.height >= 2 && input.width >= 2) {
    out.shifts = 8;
    *why = "the network's input is an image (" + input.ToString() + ")";
    return out;
  }
  const size_t dims = sample_shape.size();
  if ((dims == 2 || dims == 3) && sample_shape[dims - 2] >= 2 && sample_shape[dims - 1] >= 2 &&
      sample_shape[dims - 2] <= 65536 && sample_shape[dims - 1] <= 65536) {
    out.shifts = 8;
    out.height = static_cast<int>(sample_shape[dims - 2]);
    out.width = static_cast<int>(sample_shape[dims - 1]);
    *why = "the data file gives each sample as an image (" +
           (dims == 3 ? std::to_string(sample_shape[0]) + "x" : std::string()) +
           std::to_string(out.height) + "x" + std::to_string(out.width) + ")";
    return out;
  }
  *why =
      sample_shape.empty()
          ? "the samples are rows without an image shape (CSV) and the network's input is not an "
            "image (" +
                input.ToString() + ")"
          : "neither the samples (" + std::to_string(sample_shape.size()) +
                " dimension(s) each) nor the network's input (" + input.ToString() + ") are images";
  return out;
}

FloatBatch AugmentCalibration(const FloatBatch& calibration, const Augmentation& a,
                              const Shape& input, const std::string& flag) {
  if (a.shifts == 0) return calibration;
  const int64_t h = a.height > 0 ? a.height : input.height;
  const int64_t w = a.height > 0 ? a.width : input.width;
  const int64_t size = calibration.rows();
  if (h < 2 || w < 2 || size % (h * w) != 0) {
    throw Error(ExitCode::kUsage,
                flag + " " + AugmentationName(a) + ": the network input (" + input.ToString() +
                    ", " + std::to_string(size) + " values) is not an image" +
                    (a.height > 0 ? " of that size" : "; give its size, e.g. shift:28x28"));
  }
  const int64_t channels = size / (h * w);
  static const int kDy[8] = {0, 0, 1, -1, 1, 1, -1, -1};
  static const int kDx[8] = {1, -1, 0, 0, 1, -1, 1, -1};
  const int64_t n = calibration.cols();
  FloatBatch out(size, n * (1 + a.shifts));
  out.leftCols(n) = calibration;
  for (int64_t s = 0; s < n; ++s) {
    for (int d = 0; d < a.shifts; ++d) {
      auto dst = out.col(n * (1 + d) + s);
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t y = 0; y < h; ++y) {
          const int64_t sy = std::clamp<int64_t>(y - kDy[d], 0, h - 1);
          for (int64_t x = 0; x < w; ++x) {
            const int64_t sx = std::clamp<int64_t>(x - kDx[d], 0, w - 1);
            dst((c * h + y) * w + x) = calibration((c * h + sy) * w + sx, s);
          }
        }
      }
    }
  }
  return out;
}

}  // namespace qrepair
