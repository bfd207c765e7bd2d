// Hand-written fixed-point models ("kind": "fixed-point"): integer weights, power-of-two scales as
// fraction bits, clamps as code widths. The integer pass must compute exactly the fixed-point
// rules, checked here against a scalar implementation of those rules written from their
// statement (not from qrepair's requantization), on thousands of random networks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "qrepair/error.h"
#include "qrepair/io/json_io.h"
#include "qrepair/quant/forward.h"

namespace qrepair {
namespace {

using nlohmann::json;

// round(acc / 2^k) in one of the literature's roundings; k <= 0 is an exact left shift.
int64_t RoundShift(int64_t acc, int k, const std::string& mode) {
  if (k <= 0) return acc * (int64_t{1} << -k);
  const int64_t floor_q = acc >> k;                       // floor division (arithmetic shift)
  const int64_t rem = acc - floor_q * (int64_t{1} << k);  // in [0, 2^k)
  const int64_t half = int64_t{1} << (k - 1);
  if (rem < half) return floor_q;
  if (rem > half) return floor_q + 1;
  if (mode == "half-up") return floor_q + 1;  // floor(x + 1/2)
  if (mode == "half-away") return acc < 0 ? floor_q : floor_q + 1;
  return floor_q % 2 == 0 ? floor_q : floor_q + 1;  // half-even
}

struct RandomFixedPoint {
  json file;
  // The rules, for the reference: per layer the weights (out x in), biases, shift, clamp.
  struct Layer {
    std::vector<std::vector<int64_t>> w;
    std::vector<int64_t> b;
    int shift = 0;
    int64_t lo = 0, hi = 0;
  };
  std::vector<Layer> layers;
  std::string rounding;
  int inputs = 0, input_frac = 0;
  int64_t input_lo = 0, input_hi = 0;
};

RandomFixedPoint MakeRandom(std::mt19937_64& rng) {
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  RandomFixedPoint r;
  const char* modes[] = {"half-up", "half-even", "half-away"};
  r.rounding = modes[uniform(0, 2)];
  r.inputs = static_cast<int>(uniform(1, 6));
  const int in_bits = static_cast<int>(uniform(2, 10));
  const bool in_signed = uniform(0, 1) == 1;
  r.input_frac = static_cast<int>(uniform(-2, 10));
  r.input_lo = in_signed ? -(int64_t{1} << (in_bits - 1)) : 0;
  r.input_hi = in_signed ? (int64_t{1} << (in_bits - 1)) - 1 : (int64_t{1} << in_bits) - 1;
  json layers = json::array();
  int width = r.inputs, frac = r.input_frac;
  const int depth = static_cast<int>(uniform(1, 3));
  for (int l = 0; l < depth; ++l) {
    const bool last = l == depth - 1;
    const int units = static_cast<int>(uniform(1, 6));
    const int wbits = static_cast<int>(uniform(2, 8));
    const int wfrac = static_cast<int>(uniform(0, 8));
    const int out_bits = static_cast<int>(uniform(2, 8));
    // The shift k = frac + wfrac - out_frac stays in -6..20 (both directions, and ties), the
    // fraction bits in -8..16.
    const int out_frac =
        static_cast<int>(uniform(std::max(-8, frac + wfrac - 20), std::min(16, frac + wfrac + 6)));
    RandomFixedPoint::Layer rl;
    rl.shift = frac + wfrac - out_frac;
    rl.lo = last ? -(int64_t{1} << (out_bits - 1)) : 0;
    rl.hi = last ? (int64_t{1} << (out_bits - 1)) - 1 : (int64_t{1} << out_bits) - 1;
    const int64_t wmax = (int64_t{1} << (wbits - 1)) - 1;
    for (int u = 0; u < units; ++u) {
      std::vector<int64_t> row;
      for (int i = 0; i < width; ++i) row.push_back(uniform(-wmax - 1, wmax));
      rl.w.push_back(row);
      rl.b.push_back(uniform(-(int64_t{1} << 12), int64_t{1} << 12));
    }
    layers.push_back(
        {{"name", "fc" + std::to_string(l)},
         {"type", "dense"},
         {"weight_bits", wbits},
         {"weight_fraction_bits", wfrac},
         {"weights", rl.w},
         {"bias", rl.b},
         {"activation", last ? "none" : "relu"},
         {"output", {{"bits", out_bits}, {"fraction_bits", out_frac}, {"signed", last}}}});
    r.layers.push_back(rl);
    width = units;
    frac = out_frac;
  }
  r.file = {
      {"format", "qrepair-model"},
      {"version", 1},
      {"kind", "fixed-point"},
      {"fixed_point",
       {{"input_shape", {r.inputs}},
        {"input", {{"bits", in_bits}, {"fraction_bits", r.input_frac}, {"signed", in_signed}}},
        {"rounding", r.rounding},
        {"layers", layers}}}};
  return r;
}

std::vector<int64_t> Reference(const RandomFixedPoint& r, std::vector<int64_t> x) {
  for (const RandomFixedPoint::Layer& l : r.layers) {
    std::vector<int64_t> y;
    for (size_t u = 0; u < l.w.size(); ++u) {
      int64_t acc = l.b[u];
      for (size_t i = 0; i < x.size(); ++i) acc += l.w[u][i] * x[i];
      y.push_back(std::clamp(RoundShift(acc, l.shift, r.rounding), l.lo, l.hi));
    }
    x = y;
  }
  return x;
}

TEST(FixedPointTest, RandomNetworksComputeTheFixedPointRules) {
  std::mt19937_64 rng(20261203);
  int64_t compared = 0;
  for (int n = 0; n < 2000; ++n) {
    const RandomFixedPoint r = MakeRandom(rng);
    const ModelFile model = ModelFileFromJson(r.file, "random.json");
    ASSERT_TRUE(model.has_quantized);
    ASSERT_TRUE(model.float_network.stand_in);
    // Inputs as real values code * 2^-frac: the input mapping must give the codes back exactly.
    const int samples = 16;
    FloatBatch x(r.inputs, samples);
    std::vector<std::vector<int64_t>> codes(samples);
    for (int s = 0; s < samples; ++s) {
      for (int i = 0; i < r.inputs; ++i) {
        const int64_t c = std::uniform_int_distribution<int64_t>(r.input_lo, r.input_hi)(rng);
        codes[s].push_back(c);
        x(i, s) = static_cast<float>(std::ldexp(static_cast<double>(c), -r.input_frac));
      }
    }
    const CodeBatch out = ForwardInteger(model.quantized, QuantizeInput(model.quantized, x));
    for (int s = 0; s < samples; ++s) {
      const std::vector<int64_t> want = Reference(r, codes[s]);
      ASSERT_EQ(static_cast<size_t>(out.rows()), want.size());
      for (size_t k = 0; k < want.size(); ++k) {
        ASSERT_EQ(out(static_cast<int>(k), s), want[k])
            << "network " << n << " sample " << s << " output " << k << "\n"
            << r.file.dump();
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 2000 * 16);
}

TEST(FixedPointTest, SavedWithoutAFloatNetworkAndReadBackTheSame) {
  std::mt19937_64 rng(7);
  for (int n = 0; n < 50; ++n) {
    const RandomFixedPoint r = MakeRandom(rng);
    const ModelFile model = ModelFileFromJson(r.file, "random.json");
    const json saved = ModelFileToJson(model);
    EXPECT_EQ(saved["kind"], "quantized");
    EXPECT_FALSE(saved.contains("network")) << "a stand-in is never written";
    const ModelFile again = ModelFileFromJson(saved, "saved.json");
    EXPECT_TRUE(again.float_network.stand_in);
    EXPECT_EQ(ModelFileToJson(again).dump(), saved.dump());
    ASSERT_EQ(again.quantized.layers.size(), model.quantized.layers.size());
    for (size_t l = 0; l < model.quantized.layers.size(); ++l) {
      EXPECT_EQ(again.quantized.layers[l].weights_q, model.quantized.layers[l].weights_q);
      EXPECT_EQ(again.quantized.layers[l].bias_q, model.quantized.layers[l].bias_q);
      EXPECT_EQ(again.quantized.layers[l].requant, model.quantized.layers[l].requant);
    }
  }
}

std::string ErrorOf(const json& file) {
  try {
    ModelFileFromJson(file, "fp.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

TEST(FixedPointTest, BadFieldsNameTheirPlace) {
  const json good = {{"format", "qrepair-model"},
                     {"version", 1},
                     {"kind", "fixed-point"},
                     {"fixed_point",
                      {{"input_shape", {2}},
                       {"input", {{"bits", 8}, {"fraction_bits", 8}}},
                       {"rounding", "half-up"},
                       {"layers",
                        {{{"name", "out"},
                          {"type", "dense"},
                          {"weight_bits", 4},
                          {"weight_fraction_bits", 2},
                          {"weights", {{1, -2}, {3, 7}}},
                          {"bias", {0, 5}},
                          {"output", {{"bits", 6}, {"fraction_bits", 4}, {"signed", true}}}}}}}}};
  EXPECT_NO_THROW(ModelFileFromJson(good, "fp.json"));
  json bad = good;
  bad["fixed_point"]["layers"][0]["weights"][1][1] = 8;  // 4-bit weights end at 7
  std::string e = ErrorOf(bad);
  EXPECT_NE(e.find("fp.json"), std::string::npos) << e;
  EXPECT_NE(e.find("$.fixed_point.layers[0].weights[1][1]"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range -8..7"), std::string::npos) << e;
  bad = good;
  bad["fixed_point"]["layers"][0]["weights"] = {1, 2, 3};
  e = ErrorOf(bad);
  EXPECT_NE(e.find("2 units x 2 inputs"), std::string::npos) << e;
  bad = good;
  bad["fixed_point"]["layers"][0]["output"]["fraction_bits"] = -30;  // shift 8 + 2 + 30 = 40
  e = ErrorOf(bad);
  EXPECT_NE(e.find("$.fixed_point.layers[0].output.fraction_bits"), std::string::npos) << e;
  bad = good;
  bad["fixed_point"]["layers"][0]["output"]["signed"] = false;
  e = ErrorOf(bad);
  EXPECT_NE(e.find("logits"), std::string::npos) << e;
  bad = good;
  bad["fixed_point"]["layers"][0]["scale"] = 1;
  e = ErrorOf(bad);
  EXPECT_NE(e.find("$.fixed_point.layers[0].scale"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key"), std::string::npos) << e;
  bad = good;
  bad["fixed_point"]["rounding"] = "up";
  e = ErrorOf(bad);
  EXPECT_NE(e.find("$.fixed_point.rounding"), std::string::npos) << e;
  bad = good;
  bad["fixed_point"].erase("input_shape");
  e = ErrorOf(bad);
  EXPECT_NE(e.find("input_shape"), std::string::npos) << e;
}

}  // namespace
}  // namespace qrepair
