// ONNX Runtime vs the reference integer pass on a data set: top-1 agreement, accuracy in ORT
// against the repair report's, and the largest logit difference in quanta. Run by
// bench/ort_agreement.sh; exits 1 when agreement < 99.9 % or an accuracy differs by > 0.1 point.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ort_harness.h"
#include "qrepair/error.h"
#include "qrepair/io/dataset.h"
#include "qrepair/io/json_io.h"

namespace {

using qrepair::FloatBatch;

// ORT's accuracy on rows [begin, end) of the data set.
double Accuracy(const std::vector<int>& top1, const std::vector<int>& labels, int64_t begin,
                int64_t end) {
  int64_t right = 0;
  for (int64_t i = begin; i < end; ++i) right += top1[i] == labels[i];
  return end > begin ? static_cast<double>(right) / static_cast<double>(end - begin) : 0;
}

int Run(int argc, char** argv) {
  CLI::App app{"ONNX Runtime vs the reference integer pass"};
  std::string model_json, onnx, report_path,
      ort_dir = std::string(QREPAIR_SOURCE_DIR) + "/tests/ort";
  qrepair::DataOptions data_options;
  app.add_option("model", model_json, "Quantized qrepair JSON")->required();
  app.add_option("onnx", onnx, "Its ONNX export")->required();
  app.add_option("--data", data_options.data_path)->required();
  app.add_option("--labels", data_options.labels_path)->required();
  app.add_option("--input-scale", data_options.input_scale);
  app.add_option("--report", report_path, "Repair report JSON: compare accuracies on its ranges");
  app.add_option("--ort-dir", ort_dir)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::string reason = qrepair::testing::OrtUnavailableReason(ort_dir);
  if (!reason.empty()) {
    std::cerr << "ort_agreement: " << reason << "\n";
    return 2;
  }
  qrepair::ModelFile model = qrepair::LoadModelJson(model_json);
  qrepair::Dataset data = qrepair::LoadDataset(data_options);
  FloatBatch inputs = qrepair::InputBatch(data);
  std::string work_dir =
      onnx.substr(0, onnx.find_last_of('/') == std::string::npos ? 0 : onnx.find_last_of('/'));
  if (work_dir.empty()) work_dir = ".";
  FloatBatch logits = qrepair::testing::RunOrt(ort_dir, work_dir, onnx, model.quantized, inputs);
  auto c = qrepair::testing::CompareWithReference(model.quantized, inputs, logits, data.labels);
  std::vector<int> ort_top1 = qrepair::ArgmaxColumns(logits);
  bool pass = c.Agreement() >= 0.999;
  std::printf("| measure | value |\n|---|---:|\n");
  std::printf("| samples | %lld |\n", static_cast<long long>(c.samples));
  std::printf("| top-1 agreement ORT vs reference pass | %.2f %% (%lld disagree) |\n",
              100 * c.Agreement(), static_cast<long long>(c.samples - c.top1_agree));
  std::printf("| accuracy, ORT | %.2f %% |\n| accuracy, reference pass | %.2f %% |\n",
              100.0 * static_cast<double>(c.ort_correct) / static_cast<double>(c.samples),
              100.0 * static_cast<double>(c.reference_correct) / static_cast<double>(c.samples));
  std::printf("| largest logit difference | %.4f quanta |\n", c.max_logit_diff);
  if (!report_path.empty()) {
    std::ifstream in(report_path);
    nlohmann::json report = nlohmann::json::parse(in);
    for (const char* stage : {"repair", "holdout"}) {
      const nlohmann::json& figures = report["after"][stage];
      std::string range_text = report["options"].value(std::string(stage) + "_range", "");
      if (figures.is_null() || range_text.empty() || figures["accuracy"].is_null()) continue;
      qrepair::RowRange range = qrepair::ParseRowRange(range_text, stage);
      int64_t end = range.end < 0 ? c.samples : std::min<int64_t>(range.end, c.samples);
      double ort = Accuracy(ort_top1, data.labels, range.begin, end);
      double claimed = figures["accuracy"].get<double>();
      bool close = std::abs(ort - claimed) <= 0.001 + 1e-12;
      pass = pass && close;
      std::printf("| %s rows %s: accuracy ORT / report | %.2f %% / %.2f %% (%s) |\n", stage,
                  range_text.c_str(), 100 * ort, 100 * claimed,
                  close ? "within 0.1 point" : "DIFFERS by more than 0.1 point");
    }
  }
  std::printf("\n%s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ort_agreement: " << e.what() << "\n";
    return 1;
  }
}
