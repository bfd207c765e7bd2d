// The exported C header, compiled by the system C compiler, against the reference integer pass:
// logits bit for bit on random networks and inputs, with and without unsigned __int128.
#include "qrepair/export/c_header_export.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "qrepair/error.h"
#include "qrepair/quant/forward.h"
#include "random_networks.h"
#include "temp_dir.h"

namespace qrepair {
namespace {

using testing::MakeRandomCase;
using testing::PerturbWeights;
using testing::TempDir;

// Reads input codes (mode 0) or float inputs (mode 1) and prints logits or codes.
constexpr const char* kMain = R"C(
#include <stdio.h>
#include <stdlib.h>
#include "net.h"
int main(int argc, char** argv) {
  static int32_t codes[NET_INPUT_SIZE];
  static float values[NET_INPUT_SIZE];
  int32_t logits[NET_NUM_CLASSES];
  int mode, samples, s, i;
  FILE* in = fopen(argv[1], "r");
  if (argc < 2 || !in || fscanf(in, "%d %d", &mode, &samples) != 2) return 2;
  for (s = 0; s < samples; ++s) {
    for (i = 0; i < NET_INPUT_SIZE; ++i) {
      if (mode == 0) {
        long v;
        if (fscanf(in, "%ld", &v) != 1) return 3;
        codes[i] = (int32_t)v;
      } else {
        double v;
        if (fscanf(in, "%lf", &v) != 1) return 3;
        values[i] = (float)v;
      }
    }
    if (mode == 0) {
      int top = net_predict(codes, logits);
      printf("%d", top);
      for (i = 0; i < NET_NUM_CLASSES; ++i) printf(" %ld", (long)logits[i]);
    } else {
      net_quantize_input(values, codes);
      for (i = 0; i < NET_INPUT_SIZE; ++i) printf(" %ld", (long)codes[i]);
    }
    printf("\n");
  }
  fclose(in);
  return 0;
}
)C";

bool HaveCompiler() { return std::system("cc --version > /dev/null 2>&1") == 0; }

// Compiles main.c with net.h in `dir`; returns the binary's path.
std::string Compile(const TempDir& dir, const std::string& header, bool portable_multiply) {
  std::ofstream(dir.Path("net.h")) << header;
  std::ofstream(dir.Path("main.c")) << kMain;
  std::string binary = dir.Path(portable_multiply ? "net_portable" : "net_int128");
  std::string command = "cc -std=c99 -pedantic -Wall -Wextra -Werror -O1 " +
                        std::string(portable_multiply ? "-DQREPAIR_NO_INT128 " : "") + "-o " +
                        binary + " " + dir.Path("main.c") + " 2> " + dir.Path("cc.log");
  if (std::system(command.c_str()) != 0) {
    std::ifstream log(dir.Path("cc.log"));
    std::stringstream text;
    text << log.rdbuf();
    ADD_FAILURE() << "cc failed:\n" << text.str();
    return "";
  }
  return binary;
}

std::vector<std::vector<int64_t>> RunProgram(const TempDir& dir, const std::string& binary,
                                             const std::string& input) {
  std::ofstream(dir.Path("input.txt")) << input;
  std::string command = binary + " " + dir.Path("input.txt") + " > " + dir.Path("output.txt");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream out(dir.Path("output.txt"));
  std::vector<std::vector<int64_t>> rows;
  std::string line;
  while (std::getline(out, line)) {
    std::istringstream fields(line);
    rows.emplace_back();
    for (int64_t v; fields >> v;) rows.back().push_back(v);
  }
  return rows;
}

// Half random codes over the whole input range, half the quantized random inputs.
CodeBatch MakeCodes(const QuantizedNetwork& q, const FloatBatch& inputs, std::mt19937_64& rng) {
  CodeBatch from_inputs = QuantizeInput(q, inputs);
  CodeBatch codes(from_inputs.rows(), 2 * from_inputs.cols());
  std::uniform_int_distribution<int64_t> any(q.input.Min(), q.input.Max());
  for (int64_t i = 0; i < from_inputs.size(); ++i) codes.data()[i] = static_cast<int32_t>(any(rng));
  codes.rightCols(from_inputs.cols()) = from_inputs;
  return codes;
}

void ExpectLogitsMatch(const QuantizedNetwork& q, const CodeBatch& codes, const std::string& what) {
  if (!HaveCompiler()) GTEST_SKIP() << "no system C compiler (cc)";
  TempDir dir("c_header");
  std::string header = ExportCHeader(q, "net");
  std::ostringstream input;
  input << "0 " << codes.cols() << "\n";
  for (int64_t s = 0; s < codes.cols(); ++s) {
    for (int64_t i = 0; i < codes.rows(); ++i) input << codes(i, s) << " ";
    input << "\n";
  }
  CodeBatch expected = ForwardInteger(q, codes);
  std::vector<int> top1 = ArgmaxColumns(expected);
  // An argmin network runs negated (OrientForDecision); the header hands out the logits in the
  // loaded orientation and returns the lowest.
  const bool argmin = q.config.decision == Decision::kArgmin;
  if (argmin) expected = -expected;
  for (bool portable : {false, true}) {
    std::string binary = Compile(dir, header, portable);
    ASSERT_FALSE(binary.empty()) << what;
    auto rows = RunProgram(dir, binary, input.str());
    ASSERT_EQ(static_cast<int64_t>(rows.size()), codes.cols()) << what;
    for (int64_t s = 0; s < codes.cols(); ++s) {
      ASSERT_EQ(static_cast<int64_t>(rows[s].size()), 1 + expected.rows()) << what;
      EXPECT_EQ(rows[s][0], top1[s]) << what << " sample " << s;
      if (argmin) {  // the lowest printed logit, the lowest index winning ties
        int lowest = 0;
        for (int64_t k = 1; k < expected.rows(); ++k) {
          if (rows[s][1 + k] < rows[s][1 + lowest]) lowest = static_cast<int>(k);
        }
        EXPECT_EQ(rows[s][0], lowest) << what << " sample " << s;
      }
      for (int64_t k = 0; k < expected.rows(); ++k) {
        ASSERT_EQ(rows[s][1 + k], expected(k, s))
            << what << (portable ? " (portable)" : " (int128)") << " sample " << s << " logit "
            << k;
      }
    }
  }
}

TEST(CHeaderExportTest, MatchesReferencePassOnRandomNetworks) {
  std::mt19937_64 rng(20240605);
  for (int n = 0; n < 50; ++n) {
    bool conv = n % 2 == 1;
    auto c = MakeRandomCase(rng, 20, conv);
    if (n % 5 == 4) {  // wide codes: int16 weights, accumulators past 2^32
      QuantConfig config = c.quantized.config;
      config.defaults.weight_bits = 12 + n % 5;
      config.activation_bits = 16;
      c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
    }
    if (n % 3 != 0) PerturbWeights(c.quantized, rng);
    ExpectLogitsMatch(c.quantized, MakeCodes(c.quantized, c.inputs, rng),
                      "case " + std::to_string(n) + (conv ? " (conv)" : " (dense)"));
    if (HasFatalFailure() || IsSkipped()) return;
  }
}

// Every rounding mode: the requantization, the average pooling and the logits' int32 left shift
// (tflite) of the header against the reference pass.
TEST(CHeaderExportTest, EveryRoundingModeMatchesReferencePass) {
  std::mt19937_64 rng(20261203);
  for (int n = 0; n < 12; ++n) {
    const bool conv = n % 2 == 1;
    auto c = MakeRandomCase(rng, 20, conv);
    const uint64_t perturb_seed = rng();
    for (RoundingMode mode : testing::kAllRoundingModes) {
      QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& k) {
        k.rounding = mode;
        if (n % 4 == 3) {  // wide codes: accumulators past int32 (tflite saturates them)
          k.defaults.weight_bits = 14;
          k.activation_bits = 16;
        }
      });
      std::mt19937_64 perturb(perturb_seed);
      if (n % 3 != 0) PerturbWeights(q, perturb);
      ExpectLogitsMatch(q, MakeCodes(q, c.inputs, perturb),
                        std::string(RoundingModeName(mode)) + " case " + std::to_string(n) +
                            (conv ? " (conv)" : " (dense)"));
      if (HasFatalFailure() || IsSkipped()) return;
    }
  }
}

// "decision": "argmin" (ACAS Xu): predict() returns the lowest logit of the loaded network.
TEST(CHeaderExportTest, ArgminNetworksReturnTheLowestLogit) {
  std::mt19937_64 rng(31);
  for (int n = 0; n < 8; ++n) {
    auto c = MakeRandomCase(rng, 20, n % 2 == 1);
    OrientForDecision(c.network, Decision::kArgmin, "random");
    QuantConfig config = c.quantized.config;
    config.decision = Decision::kArgmin;
    c.quantized = QuantizeNetwork(c.network, config, c.inputs, "random");
    if (n % 2 == 0) PerturbWeights(c.quantized, rng);
    const std::string header = ExportCHeader(c.quantized, "net");
    EXPECT_NE(header.find("#define NET_DECISION_ARGMIN 1"), std::string::npos);
    ExpectLogitsMatch(c.quantized, MakeCodes(c.quantized, c.inputs, rng),
                      "argmin case " + std::to_string(n));
    if (HasFatalFailure() || IsSkipped()) return;
  }
}

// Accumulators up to 2^52 at every shift (the 64x32-bit multiply only carries between words
// once |acc| >= 2^32, which real networks rarely reach), a third of them exact ties.
std::vector<std::array<int64_t, 3>> WideRequantizeCases(std::mt19937_64& rng) {
  std::vector<std::array<int64_t, 3>> cases;  // acc, m, shift
  std::uniform_int_distribution<int64_t> mantissa(int64_t{1} << 30, (int64_t{1} << 31) - 1);
  std::uniform_int_distribution<int> shift_of(1, 62), bits_of(1, 52), sign(0, 1);
  while (cases.size() < 3000) {
    int shift = shift_of(rng);
    int64_t m = mantissa(rng);
    int64_t acc = static_cast<int64_t>(rng() >> (64 - bits_of(rng)));
    if (cases.size() % 3 == 0 && shift >= 31) {  // exact tie: acc * 2^30 = odd * 2^(shift-1)
      m = int64_t{1} << 30;
      acc = (2 * (acc >> (shift - 30)) + 1) << (shift - 31);
    }
    if (sign(rng)) acc = -acc;
    if (std::ldexp(std::fabs(static_cast<double>(acc)) * static_cast<double>(m), -shift) >= 0x1p61)
      continue;
    cases.push_back({acc, m, shift});
  }
  return cases;
}

// Drives the header's net_requantize directly with `cases` (acc, m, shift) and compares it with
// Requantize in the network's mode, with and without unsigned __int128.
void ExpectRequantizeHelperMatches(const QuantizedNetwork& q,
                                   const std::vector<std::array<int64_t, 3>>& cases) {
  TempDir dir("c_header_requant");
  std::ofstream(dir.Path("net.h")) << ExportCHeader(q, "net");
  std::ofstream(dir.Path("main.c")) << R"C(
#include <stdio.h>
#include "net.h"
int main(void) {
  long long acc, m;
  int shift;
  while (scanf("%lld %lld %d", &acc, &m, &shift) == 3) {
    printf("%lld\n", (long long)net_requantize(acc, (int32_t)m, shift));
  }
  return 0;
}
)C";
  std::ostringstream input;
  for (const auto& t : cases) input << t[0] << " " << t[1] << " " << t[2] << "\n";
  std::ofstream(dir.Path("cases.txt")) << input.str();
  for (const char* flags : {"", "-DQREPAIR_NO_INT128 "}) {
    std::string command = std::string("cc -std=c99 -pedantic -Wall -Wextra -Werror -O1 ") + flags +
                          "-o " + dir.Path("requant") + " " + dir.Path("main.c") + " && " +
                          dir.Path("requant") + " < " + dir.Path("cases.txt") + " > " +
                          dir.Path("out.txt");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ifstream out(dir.Path("out.txt"));
    for (const auto& t : cases) {
      int64_t got = 0;
      ASSERT_TRUE(out >> got);
      FixedPointMultiplier f;
      f.m = t[1];
      f.shift = static_cast<int>(t[2]);
      ASSERT_EQ(got, Requantize(t[0], f, q.rounding))
          << RoundingModeName(q.rounding) << " " << flags << "acc " << t[0] << " m " << t[1]
          << " shift " << t[2];
    }
  }
}

// The 64x32-bit multiply only carries between words once |acc| >= 2^32, which real networks
// rarely reach: drive the helper directly with wide accumulators and exact ties.
TEST(CHeaderExportTest, RequantizeHelperIsExactOnWideProducts) {
  if (!HaveCompiler()) GTEST_SKIP() << "no system C compiler (cc)";
  std::mt19937_64 rng(11);
  auto c = MakeRandomCase(rng, 5, false);
  ExpectRequantizeHelperMatches(c.quantized, WideRequantizeCases(rng));
}

// Every rounding mode's helper on the same wide cases: ties of both signs, and for tflite the
// int32 saturation of the accumulator and of the left shift (shift < 31).
TEST(CHeaderExportTest, RequantizeHelperFollowsEveryRoundingMode) {
  if (!HaveCompiler()) GTEST_SKIP() << "no system C compiler (cc)";
  std::mt19937_64 rng(12);
  auto c = MakeRandomCase(rng, 5, false);
  std::vector<std::array<int64_t, 3>> cases = WideRequantizeCases(rng);
  std::uniform_int_distribution<int64_t> small(-5000, 5000);
  for (int shift = 0; shift <= 62; ++shift) {  // small accumulators, ties included
    for (int k = 0; k < 20; ++k) cases.push_back({small(rng), int64_t{1} << 30, shift});
  }
  for (RoundingMode mode : testing::kAllRoundingModes) {
    QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& k) { k.rounding = mode; });
    ExpectRequantizeHelperMatches(q, cases);
    if (HasFatalFailure()) return;
  }
}

// The header's net_quantize_input against QuantizeInput on ties, out-of-range and random inputs.
void ExpectInputCodingMatches(QuantizedNetwork q, const FloatBatch& inputs) {
  const int64_t n = q.input_shape.Size();
  q.input_offset.assign(n, 0.0f);
  q.input_divisor.assign(n, 1.0f);
  for (int64_t i = 0; i < n; ++i) {
    q.input_offset[i] = 0.1f * static_cast<float>(i % 3);
    q.input_divisor[i] = 0.5f + 0.25f * static_cast<float>(i % 4);
  }
  // Exact ties of the rounding, far out-of-range values and random ones.
  FloatBatch x = inputs;
  for (int64_t s = 0; s < 10; ++s) {
    for (int64_t i = 0; i < n; ++i) {
      float tie = static_cast<float>((static_cast<double>(s) - 3.5) * q.input.scale);
      x(i, s) = tie * q.input_divisor[i] + q.input_offset[i];
    }
  }
  x(0, 10) = 1e30f;
  x(1, 10) = -1e30f;
  TempDir dir("c_header_input");
  std::ostringstream input;
  input << "1 " << x.cols() << "\n";
  for (int64_t s = 0; s < x.cols(); ++s) {
    for (int64_t i = 0; i < n; ++i) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%a ", static_cast<double>(x(i, s)));
      input << buf;
    }
    input << "\n";
  }
  std::string binary = Compile(dir, ExportCHeader(q, "net"), false);
  ASSERT_FALSE(binary.empty());
  auto rows = RunProgram(dir, binary, input.str());
  CodeBatch expected = QuantizeInput(q, x);
  ASSERT_EQ(static_cast<int64_t>(rows.size()), x.cols());
  for (int64_t s = 0; s < x.cols(); ++s) {
    for (int64_t i = 0; i < n; ++i)
      EXPECT_EQ(rows[s][i], expected(i, s))
          << RoundingModeName(q.rounding) << " sample " << s << " input " << i;
  }
}

TEST(CHeaderExportTest, QuantizesFloatInputLikeTheReference) {
  if (!HaveCompiler()) GTEST_SKIP() << "no system C compiler (cc)";
  std::mt19937_64 rng(7);
  auto c = MakeRandomCase(rng, 50, false);
  ExpectInputCodingMatches(c.quantized, c.inputs);
}

TEST(CHeaderExportTest, QuantizesFloatInputInEveryRoundingMode) {
  if (!HaveCompiler()) GTEST_SKIP() << "no system C compiler (cc)";
  std::mt19937_64 rng(8);
  auto c = MakeRandomCase(rng, 50, false);
  for (RoundingMode mode : testing::kAllRoundingModes) {
    ExpectInputCodingMatches(testing::QuantizedWith(c, [&](QuantConfig& k) { k.rounding = mode; }),
                             c.inputs);
  }
}

TEST(CHeaderExportTest, RefusesWeightsOnlyNetworksAndBadPrefixes) {
  std::mt19937_64 rng(3);
  auto c = MakeRandomCase(rng, 5, false);
  EXPECT_THROW(ExportCHeader(c.quantized, "1net"), Error);
  EXPECT_THROW(ExportCHeader(c.quantized, "my-net"), Error);
  c.quantized.float_activations = true;
  try {
    ExportCHeader(c.quantized, "net");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("weights-only"), std::string::npos);
  }
}

// Zero points (asymmetric activations) in every rounding mode: the centered accumulation, the
// output zero point, ReLU at the zero point and the average pool, against the reference pass.
TEST(CHeaderExportTest, ZeroPointsMatchReferencePassInEveryRoundingMode) {
  std::mt19937_64 rng(5150);
  for (int n = 0; n < 8; ++n) {
    const bool conv = n % 2 == 1;
    auto c = MakeRandomCase(rng, 20, conv);
    const uint64_t perturb_seed = rng();
    for (RoundingMode mode : testing::kAllRoundingModes) {
      QuantizedNetwork q = testing::QuantizedWith(c, [&](QuantConfig& k) {
        k.rounding = mode;
        k.activation_symmetric = false;
        k.activation_signed = n % 4 >= 2;  // TFLite's signed int8 codes, or uint8
      });
      std::mt19937_64 perturb(perturb_seed);
      if (n % 3 != 0) PerturbWeights(q, perturb);
      const std::string what = std::string(RoundingModeName(mode)) + " zero points case " +
                               std::to_string(n) + (conv ? " (conv)" : " (dense)");
      ExpectLogitsMatch(q, MakeCodes(q, c.inputs, perturb), what);
      if (HasFatalFailure() || IsSkipped()) return;
      ExpectInputCodingMatches(q, c.inputs);
      if (HasFatalFailure()) return;
    }
  }
}

// Requantized logits with every rounding mode and zero points: the header's saturating logit
// codes and its argmax (ties to the lowest index) against the reference pass.
TEST(CHeaderExportTest, RequantizedLogitsMatchReferencePass) {
  std::mt19937_64 rng(1818);
  for (int n = 0; n < 12; ++n) {
    auto c = MakeRandomCase(rng, 20, n % 2 == 1);
    const int k = testing::kRequantizedLogitsFrom + n;
    QuantizedNetwork q =
        testing::QuantizedWith(c, [&](QuantConfig& config) { testing::SetSemantics(config, k); });
    std::mt19937_64 codes_rng(n);
    ExpectLogitsMatch(q, MakeCodes(q, c.inputs, codes_rng),
                      "requantized logits, semantics " + std::to_string(k));
    if (HasFatalFailure() || IsSkipped()) return;
  }
}

}  // namespace
}  // namespace qrepair
