// The certification mode of `qrepair verify` (--radius): flags, the set-up lines of the report,
// and the outputs (table or JSON on stdout, JSON and Markdown reports, counterexample files).
#include "verify_certify.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "commands.h"
#include "qrepair/io/atomic_file.h"
#include "qrepair/io/model_source.h"
#include "qrepair/verify/certify.h"

namespace qrepair::cli {
namespace {

std::pair<double, double> ParseClip(const std::string& text) {
  const size_t colon = text.find(':');
  try {
    if (colon != std::string::npos) {
      size_t used_lo = 0, used_hi = 0;
      const double lo = std::stod(text.substr(0, colon), &used_lo);
      const double hi = std::stod(text.substr(colon + 1), &used_hi);
      if (used_lo == colon && used_hi == text.size() - colon - 1 && lo < hi) return {lo, hi};
    }
  } catch (const std::exception&) {
  }
  throw Error(ExitCode::kUsage, "--clip: expected LO:HI with LO < HI, got '" + text + "'");
}

// The input map of the data: scale and offset from the flags, the grid when every loaded value is
// an integer raw value, the clip range from the flag, the file's type, or the observed values.
RawInputMap InputMap(const CertifyCommon& c, const CertifyFlags& f, const Dataset& data,
                     std::vector<std::string>& setup) {
  if (!(c.input_scale > 0))
    throw Error(ExitCode::kUsage, "--input-scale must be > 0 with --radius");
  RawInputMap map;
  map.scale = c.input_scale;
  map.offset = c.input_offset;
  // Monotone map: the extreme raw values are those of the extreme inputs.
  map.integer_grid = std::all_of(data.values.begin(), data.values.end(),
                                 [&](float x) { return RawFromInput(map, x).has_value(); });
  const auto [x_min, x_max] = std::minmax_element(data.values.begin(), data.values.end());
  const double lo = x_min == data.values.end() ? 0 : *RawFromInput(map, *x_min);
  const double hi = x_max == data.values.end() ? 0 : *RawFromInput(map, *x_max);
  std::string why;
  if (!f.clip.empty()) {
    std::tie(map.clip_lo, map.clip_hi) = ParseClip(f.clip);
    why = "--clip";
  } else if (auto typed = RawTypeRange(c.data)) {
    std::tie(map.clip_lo, map.clip_hi) = *typed;
    why = "the data file's element type";
  } else {
    map.clip_lo = lo;
    map.clip_hi = hi;
    why = "the smallest and largest value of the certified rows (no type range in the file)";
  }
  char line[256];
  std::snprintf(line, sizeof(line), "valid raw range %g..%g (from %s); input = raw * %g + %g",
                map.clip_lo, map.clip_hi, why.c_str(), map.scale, map.offset);
  setup.emplace_back(line);
  setup.emplace_back(map.integer_grid
                         ? "integer-valued data: each ball is the grid of integer raw values in it"
                         : "real-valued data: each ball is the box of reals in it");
  return map;
}

}  // namespace

void AddCertifyFlags(CLI::App* cmd, CertifyFlags& f) {
  cmd->add_option("--radius", f.radii,
                  "Certify local robustness around every sample of --data: L-infinity radius in "
                  "the data's own units (repeat or comma-separate for several radii)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_option("--labels", f.labels, "--radius: labels of --data (IDX, .npy, one per line)");
  cmd->add_option("--target", f.target,
                  "--radius: what the decision must stay: the label, or the float network's top-1")
      ->check(CLI::IsMember({"labels", "float"}))
      ->capture_default_str();
  cmd->add_option("--clip", f.clip,
                  "--radius: valid raw range LO:HI (default: the file's type, e.g. 0:255 for uint8 "
                  "IDX; else the observed range)");
  cmd->add_option(
      "--calibration-range", f.calibration_range,
      "--radius with a float model and --config: rows A:B to calibrate on (default: the "
      "certified rows)");
  cmd->add_option("--run-time-limit", f.run_time_limit,
                  "--radius: seconds for the whole run (0 = none); --time-limit is per sample");
  cmd->add_option(
      "--report", f.report,
      "--radius: JSON report; its journal REPORT.journal.jsonl keeps finished verdicts");
  cmd->add_option("--report-md", f.report_md, "--radius: Markdown report");
  cmd->add_option(
      "--counterexamples", f.counterexamples,
      "--radius: folder for one-row raw .npy counterexamples (qrepair eval re-runs them)");
  cmd->add_flag(
      "--resume-certificates", f.resume,
      "--radius: reuse the journal's verdicts made with the same model, data and options");
}

void RunCertify(const CertifyCommon& c, const CertifyFlags& f) {
  if (c.model.empty() || c.data.empty()) {
    throw Error(ExitCode::kUsage, "verify --radius: give MODEL and --data");
  }
  if (f.resume && f.report.empty()) {
    throw Error(ExitCode::kUsage,
                "--resume-certificates needs --report (the journal lives beside it)");
  }
  std::vector<std::string> inputs{c.model, c.config, c.data, f.labels};
  for (const std::string& out : {f.report, f.report_md})
    RefuseOverwritingInputs(out, inputs, false);

  DataOptions d;
  d.data_path = c.data;
  d.labels_path = f.labels;
  d.input_scale = c.input_scale;
  d.input_offset = c.input_offset;
  if (!c.range.empty()) d.range = ParseRowRange(c.range, "--range");
  const Dataset data = LoadDataset(d);
  Dataset calibration = data;
  if (!f.calibration_range.empty()) {
    DataOptions cd = d;
    cd.labels_path.clear();
    cd.range = ParseRowRange(f.calibration_range, "--calibration-range");
    calibration = LoadDataset(cd);
  }
  const ModelFile model = OpenModel(c.model, c.config, calibration);

  std::vector<std::string> setup;
  setup.push_back("model: " + c.model + (c.config.empty() ? "" : " quantized with " + c.config));
  setup.push_back("data: " + c.data + " rows " + std::to_string(data.first_row) + ".." +
                  std::to_string(data.first_row + data.rows - 1));
  const bool equivalent = f.property == "equivalent";
  if (equivalent) {
    setup.emplace_back(
        "property: equivalent (the float network, in exact arithmetic, and the integer network "
        "take the same top-1 on every input of the ball)");
  } else {
    setup.push_back(std::string("property: robust (the quantized top-1 stays at the ") +
                    (f.target == "float" ? "float network's top-1" : "label") + ")");
  }
  CertifyOptions o;
  o.property = equivalent ? CertifyProperty::kEquivalent : CertifyProperty::kRobust;
  o.radii = f.radii;
  o.target = f.target == "float" ? CertifyTarget::kFloat : CertifyTarget::kLabels;
  o.map = InputMap(c, f, data, setup);
  o.verify = c.options;
  o.time_limit_seconds = f.run_time_limit;
  o.stop = InstallStopHandlers();
  o.resume = f.resume;
  if (!f.report.empty()) {
    o.journal_path = f.report + ".journal.jsonl";
    nlohmann::json key = {{"model", Sha256File(c.model)},
                          {"config", c.config.empty() ? "" : Sha256File(c.config)},
                          {"data", Sha256File(c.data)},
                          {"labels", f.labels.empty() ? "" : Sha256File(f.labels)},
                          {"target", f.target},
                          {"scale", c.input_scale},
                          {"offset", c.input_offset},
                          {"clip", {o.map.clip_lo, o.map.clip_hi}},
                          {"time_limit", c.options.time_limit_seconds},
                          {"work_limit", c.options.work_limit},
                          {"seed", c.options.seed}};
    // Only when they differ from the defaults, so that journals written before these options
    // existed stay valid.
    if (equivalent) key["property"] = f.property;
    if (c.options.leaf_work_limit > 0) key["leaf_work_limit"] = c.options.leaf_work_limit;
    o.setup_key = Sha256(key.dump());
  }
  o.counterexample_dir = f.counterexamples;
  if (!o.counterexample_dir.empty()) std::filesystem::create_directories(o.counterexample_dir);
  // A stand-in (a model with no float network behind it) is no float network to target.
  const Network* float_net = model.float_network.layers.empty() || model.float_network.stand_in
                                 ? nullptr
                                 : &model.float_network;

  if (equivalent && float_net == nullptr) {
    throw Error(ExitCode::kUsage, "--property equivalent needs a float model (with --config): " +
                                      c.model + " has no float network behind it");
  }
  const CertifyResult result = CertifyDataset(model.quantized, float_net, data, o);

  nlohmann::json report = {{"model", c.model},
                           {"data", c.data},
                           {"setup", setup},
                           {"summary", result.summary},
                           {"samples", result.samples},
                           {"resumed", result.resumed}};
  if (!f.report.empty()) WriteFileAtomic(f.report, report.dump(2) + "\n");
  if (!f.report_md.empty()) WriteFileAtomic(f.report_md, CertifyMarkdown(result, setup));
  if (c.json) {
    std::cout << report.dump(2) << "\n";
  } else {
    for (const std::string& line : setup) std::printf("%s\n", line.c_str());
    std::printf(equivalent
                    ? "radius  samples  equivalent  non-equivalent  unknown  total s  largest s\n"
                    : "radius  samples  robust  non-robust  misclassified  unknown  total s  "
                      "largest s\n");
    for (const RadiusSummary& s : result.summary) {
      if (equivalent) {
        std::printf("%6g  %7lld  %10lld  %14lld  %7lld  %7.1f  %9.2f\n", s.radius,
                    static_cast<long long>(s.samples), static_cast<long long>(s.robust),
                    static_cast<long long>(s.non_robust), static_cast<long long>(s.unknown),
                    s.seconds_total, s.seconds_max);
        continue;
      }
      std::printf("%6g  %7lld  %6lld  %10lld  %13lld  %7lld  %7.1f  %9.2f\n", s.radius,
                  static_cast<long long>(s.samples), static_cast<long long>(s.robust),
                  static_cast<long long>(s.non_robust), static_cast<long long>(s.misclassified),
                  static_cast<long long>(s.unknown), s.seconds_total, s.seconds_max);
    }
  }
  bool unknown = false;
  for (const RadiusSummary& s : result.summary) unknown = unknown || s.unknown > 0;
  if (result.interrupted) {
    CommandExitCode() = ExitCode::kInterrupted;
  } else {
    CommandExitCode() = unknown ? ExitCode::kLimitReached : ExitCode::kSuccess;
  }
}

}  // namespace qrepair::cli
