// ACAS Xu end to end, as a verification user runs it: the advisory is the LOWEST output, so the
// config says "decision": "argmin". Repair on random points of the input box, then check with
// `eval` on the written file that the float top-1 it compares against is the float network's
// lowest output. Reads ../shared/data (or $QREPAIR_SHARED_DATA); skipped when absent.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "qrepair/io/model_loader.h"
#include "qrepair/quant/forward.h"
#include "temp_dir.h"

namespace qrepair {
namespace {

using testing::TempDir;

std::string AcasNnet() {
  const char* env = std::getenv("QREPAIR_SHARED_DATA");
  const std::string root = env && *env ? env : QREPAIR_SOURCE_DIR "/../shared/data";
  return root + "/networks/acasxu/ACASXU_experimental_v2a_1_1.nnet";
}

int Qrepair(const TempDir& dir, const std::string& args) {
  const std::string command =
      "cd " + dir.path() + " && " + QREPAIR_BINARY + " " + args + " > stdout.txt 2> stderr.txt";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A float32 .npy file of `points` (one row per column of `points`), NumPy format 1.0.
void WriteNpy(const std::string& path, const FloatBatch& points) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(points.cols()) + ", " + std::to_string(points.rows()) +
                       "), }";
  while ((10 + header.size() + 1) % 16 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out << header;
  for (Eigen::Index p = 0; p < points.cols(); ++p) {
    for (Eigen::Index i = 0; i < points.rows(); ++i) {
      const float v = points(i, p);
      out.write(reinterpret_cast<const char*>(&v), sizeof v);
    }
  }
}

TEST(AcasE2eTest, RepairAndEvalDecideByTheLowestOutput) {
  const std::string nnet = AcasNnet();
  if (!std::filesystem::exists(nnet))
    GTEST_SKIP() << nnet << " is absent; set QREPAIR_SHARED_DATA to run this";
  const Network net = LoadNnet(nnet);
  // The NNet input box (its 4th and 5th number lines): distance, angles, speeds.
  const float lo[5] = {0.0f, -3.141593f, -3.141593f, 100.0f, 0.0f};
  const float hi[5] = {60760.0f, 3.141593f, 3.141593f, 1200.0f, 1200.0f};
  std::mt19937 rng(2026);
  FloatBatch points(5, 2000);
  for (Eigen::Index p = 0; p < points.cols(); ++p) {
    for (int i = 0; i < 5; ++i)
      points(i, p) = std::uniform_real_distribution<float>(lo[i], hi[i])(rng);
  }
  TempDir dir("acas");
  WriteNpy(dir.Path("points.npy"), points);
  std::ofstream(dir.Path("q.json"))
      << R"({"weights": {"bits": 8, "granularity": "per-tensor"}, "activations": {"bits": 8},
            "decision": "argmin"})";
  const int rc = Qrepair(dir, "repair " + nnet +
                                  " --config q.json --data points.npy --repair-range 0:1000"
                                  " --holdout-range 1000:2000 --time-limit 30 --jobs 2 -o r.json"
                                  " --report report.json --onnx r.onnx --c-header r.h");
  ASSERT_TRUE(rc == 0 || rc == 4 || rc == 5) << "exit code " << rc;
  std::ifstream report_file(dir.Path("report.json"));
  const nlohmann::json report = nlohmann::json::parse(report_file);
  EXPECT_TRUE(report["verified"].get<bool>());
  const double before = report["before"]["holdout"]["agreement"].get<double>();
  const double after = report["after"]["holdout"]["agreement"].get<double>();
  // Measured on these points: round to nearest agrees on 47.9 %, the repaired network on
  // 93.7 % (the holdout half, by the lowest output).
  std::printf("[ acasxu  ] 8-bit argmin, holdout agreement %.4f -> %.4f\n", before, after);
  EXPECT_GT(after, before + 0.2) << before << " -> " << after;

  ASSERT_EQ(
      Qrepair(dir, "eval r.json --data points.npy --range 1000:2000 --predictions p.csv --json"),
      0);
  std::ifstream eval_file(dir.Path("stdout.txt"));
  const nlohmann::json eval = nlohmann::json::parse(eval_file);
  EXPECT_DOUBLE_EQ(eval["quantized"]["agreement"].get<double>(), after) << eval.dump();
  // The float top-1 of the written file is the loaded network's lowest output.
  const FloatBatch outputs = ForwardFloat(net, points.rightCols(1000));
  std::ifstream csv(dir.Path("p.csv"));
  std::string line;
  std::getline(csv, line);
  ASSERT_EQ(line, "index,label,float_top1,quantized_top1");
  int rows = 0, lowest_matches = 0, quantized_lowest = 0;
  while (std::getline(csv, line)) {
    std::stringstream fields(line);
    std::string index, label, f, q;
    std::getline(fields, index, ',');
    std::getline(fields, label, ',');
    std::getline(fields, f, ',');
    std::getline(fields, q, ',');
    Eigen::Index lowest = 0;
    outputs.col(rows).minCoeff(&lowest);
    lowest_matches += std::stoi(f) == lowest;
    quantized_lowest += std::stoi(q) == lowest;
    ++rows;
  }
  EXPECT_EQ(rows, 1000);
  EXPECT_EQ(lowest_matches, 1000);
  EXPECT_EQ(quantized_lowest, static_cast<int>(std::lround(after * 1000)));
}

}  // namespace
}  // namespace qrepair
