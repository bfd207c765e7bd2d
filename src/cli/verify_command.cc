// `qrepair verify`: decides a VNN-LIB property for the integer network (one model), or runs a
// VNN-COMP instance list (--instances) into an output folder.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "qrepair/io/atomic_file.h"
#include "qrepair/solver/neuron_solver.h"
#include "qrepair/verify/instances.h"
#include "qrepair/verify/verifier.h"
#include "qrepair/verify/verify_report.h"
#include "qrepair/verify/vnnlib.h"
#include "verify_certify.h"

namespace qrepair::cli {

namespace {

struct VerifyFlags {
  std::string model, property, counterexample;
  std::string config, data, range;
  double input_scale = 1.0, input_offset = 0.0;
  std::string instances, out_dir, shard = "1/1";
  bool resume = false, json = false;
  uint64_t work_limit = 0;  // millions of engine units (kWorkUnit each), as repair's --work-limit
  uint64_t leaf_work_limit = 0;  // millions of Z3 resource units per leaf
  VerifyOptions options;
  CertifyFlags certify;  // --radius: data-set certification (verify_certify.h)
};

VerifyModelSource ModelSource(const VerifyFlags& f) {
  VerifyModelSource s;
  s.config_path = f.config;
  if (!f.data.empty()) {
    DataOptions d;
    d.data_path = f.data;
    d.input_scale = f.input_scale;
    d.input_offset = f.input_offset;
    if (!f.range.empty()) d.range = ParseRowRange(f.range, "--range");
    s.calibration = d;
  }
  return s;
}

void PrintValues(const char* name, const std::vector<double>& values) {
  std::printf("  %-7s", name);
  for (double v : values) std::printf(" %.9g", v);
  std::printf("\n");
}

void PrintCodes(const char* name, const std::vector<int64_t>& values) {
  std::printf("  %-7s", name);
  for (int64_t v : values) std::printf(" %lld", static_cast<long long>(v));
  std::printf("\n");
}

void PrintResult(const VerifyResult& r, const Property& p, const std::string& model) {
  std::printf("verdict: %s", VerdictName(r.verdict));
  if (r.verdict == Verdict::kUnknown) std::printf(" (%s)", r.reason.c_str());
  std::printf("\nproperty: %s (%zu input region%s)\nmodel: %s\nseconds: %.2f\n", p.source.c_str(),
              p.regions.size(), p.regions.size() == 1 ? "" : "s", model.c_str(), r.seconds);
  if (r.verdict == Verdict::kUnknown) {
    std::printf("proved: %.2f %% of the input codes\n", 100 * r.stats.proved_fraction);
  }
  if (r.counterexample) {
    const Counterexample& c = *r.counterexample;
    std::printf("counterexample: region %d, clause %d\n", c.region, c.clause);
    PrintValues("input", c.input);
    PrintCodes("codes", c.codes);
    PrintCodes("logits", c.logits);
    PrintValues("output", c.output);
  }
}

void LogStats(const VerifyStats& s) {
  spdlog::info(
      "{} branches; leaves closed by bounds {}, by single points {}, by Z3 {} ({} unknown); "
      "{} falsification points; seconds: bounds {:.2f}, Z3 {:.2f}, falsification {:.2f}; work {}",
      s.branches, s.leaves_bounds, s.leaves_points, s.leaves_smt, s.smt_unknown,
      s.falsification_points, s.seconds_bounds, s.seconds_smt, s.seconds_falsify, s.work);
}

void RunSingle(const VerifyFlags& f) {
  if (f.model.empty() || f.property.empty()) {
    throw Error(ExitCode::kUsage, "verify: give MODEL and --property P.vnnlib (or --instances)");
  }
  if (!f.out_dir.empty() || f.resume || f.shard != "1/1") {
    throw Error(ExitCode::kUsage, "verify: --out-dir, --resume and --shard go with --instances");
  }
  RefuseOverwritingInputs(f.counterexample, {f.model, f.property, f.config, f.data}, false);
  VerifyModels models(ModelSource(f));
  const ModelFile& model = models.Open(f.model);
  Property property = ParseVnnlib(f.property);
  VerifyOptions options = f.options;
  options.stop = InstallStopHandlers();
  VerifyResult result = VerifyProperty(model.quantized, property, options);
  LogStats(result.stats);
  if (result.counterexample && !f.counterexample.empty()) {
    WriteFileAtomic(f.counterexample,
                    CounterexampleFileText(*result.counterexample, property, f.model));
  }
  if (f.json) {
    std::cout << VerifyReportJson(result, property, f.model).dump(2) << "\n";
  } else {
    PrintResult(result, property, f.model);
  }
  switch (result.verdict) {
    case Verdict::kHolds:
      CommandExitCode() = ExitCode::kSuccess;
      break;
    case Verdict::kViolated:
      CommandExitCode() = ExitCode::kViolated;
      break;
    case Verdict::kUnknown:
      CommandExitCode() = options.stop->load() ? ExitCode::kInterrupted : ExitCode::kLimitReached;
      break;
  }
}

void RunList(const VerifyFlags& f) {
  if (!f.model.empty() || !f.property.empty() || !f.counterexample.empty() || f.json) {
    throw Error(ExitCode::kUsage,
                "verify --instances: MODEL, --property, --counterexample and --json do not apply "
                "(the list names the models and properties; results go to --out-dir)");
  }
  if (f.out_dir.empty()) throw Error(ExitCode::kUsage, "verify --instances needs --out-dir DIR");
  InstancesOptions o;
  o.out_dir = f.out_dir;
  o.models = ModelSource(f);
  o.verify = f.options;
  o.verify.stop = InstallStopHandlers();
  o.resume = f.resume;
  o.shard = ParseShard(f.shard);
  InstancesRun run = RunInstances(f.instances, o, VerifyProperty);
  std::map<std::string, int> counts;
  for (const InstanceResult& r : run.results) ++counts[r.verdict];
  std::printf("%zu of %lld instances finished (%lld resumed)", run.results.size(),
              static_cast<long long>(run.instances), static_cast<long long>(run.resumed));
  for (const auto& [word, n] : counts) std::printf(", %s %d", word.c_str(), n);
  std::printf("\nresults: %s/results.csv, summary: %s/summary.md\n", f.out_dir.c_str(),
              f.out_dir.c_str());
  CommandExitCode() = InstancesExitCode(run);
}

}  // namespace

void SetUpVerify(CLI::App& app) {
  auto f = std::make_shared<VerifyFlags>();
  CLI::App* cmd = app.add_subcommand(
      "verify",
      "Prove or refute a VNN-LIB property of the integer network (exit 0 holds, 9 "
      "violated, 5 unknown)");
  cmd->add_option("model", f->model, "Quantized qrepair JSON, or a float model with --config");
  cmd->add_option("--property", f->property,
                  "VNN-LIB file: the unsafe input box and outputs; with --radius, robust (the "
                  "default) or equivalent (the float and the integer network take the same top-1)");
  cmd->add_option("--config", f->config, "Quantization config: quantize a float model by RTN");
  cmd->add_option("--data", f->data, "Calibration samples for --config (IDX, CSV or .npy)");
  AddRealOption(cmd, "--input-scale", f->input_scale,
                "Network input = raw * scale + offset (1/255 for pixels)");
  AddRealOption(cmd, "--input-offset", f->input_offset, "See --input-scale");
  cmd->add_option("--range", f->range,
                  "Rows A:B of --data (end exclusive): calibration, or with --radius the certified "
                  "samples");
  cmd->add_option("--time-limit", f->options.time_limit_seconds,
                  "Seconds per property (wall clock; 0 = none; overrides the list's timeouts)");
  cmd->add_option("--work-limit", f->work_limit,
                  "Millions of work units per property (one unit: a bound multiply-add or a Z3 "
                  "resource unit): a budget independent of the machine (0 = none)");
  cmd->add_option("--leaf-time-limit", f->options.leaf_time_limit_seconds,
                  "Seconds per Z3 leaf (enforced from outside)")
      ->capture_default_str();
  cmd->add_option("--leaf-work-limit", f->leaf_work_limit,
                  "Millions of Z3 resource units per leaf (0 = none): a leaf that gives up on it "
                  "does so on every machine, unlike --leaf-time-limit")
      ->capture_default_str();
  cmd->add_option("--jobs", f->options.jobs,
                  "Instances (--instances) or samples (--radius) verified at once, each in a "
                  "process of its own; one property alone runs in one")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--seed", f->options.seed, "Seed of the falsification's random points")
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "One JSON object on stdout");
  cmd->add_option("--counterexample", f->counterexample,
                  "Write the counterexample as JSON (only when violated)");
  cmd->add_option("--instances", f->instances,
                  "VNN-COMP instance list: onnx,vnnlib,timeout per line (paths relative to it)");
  cmd->add_option("--out-dir", f->out_dir,
                  "--instances: results.csv, summary.md, counterexamples/");
  cmd->add_flag("--resume", f->resume,
                "--instances: keep the finished instances of DIR/results.csv (same set-up)");
  cmd->add_option("--shard", f->shard, "--instances: run shard I of N (I/N)")
      ->capture_default_str();
  AddCertifyFlags(cmd, f->certify);
  cmd->callback([f] {
    for (const auto& [flag, value] : {std::make_pair("--work-limit", f->work_limit),
                                      std::make_pair("--leaf-work-limit", f->leaf_work_limit)}) {
      if (value > UINT64_MAX / kWorkUnit) {
        throw Error(ExitCode::kUsage, std::string("verify: ") + flag + " " + std::to_string(value) +
                                          " is too large (at most " +
                                          std::to_string(UINT64_MAX / kWorkUnit) + " millions)");
      }
    }
    f->options.work_limit = f->work_limit * kWorkUnit;
    f->options.leaf_work_limit = f->leaf_work_limit * kWorkUnit;
    if (!f->certify.radii.empty()) {
      if (!f->instances.empty()) {
        throw Error(ExitCode::kUsage,
                    "verify: --radius certifies --data; it does not take --instances");
      }
      if (!f->property.empty() && f->property != "robust" && f->property != "equivalent") {
        throw Error(ExitCode::kUsage, "verify --radius: --property is robust or equivalent, not '" +
                                          f->property + "' (a VNN-LIB file goes without --radius)");
      }
      f->certify.property = f->property.empty() ? "robust" : f->property;
      CertifyCommon c{f->model,       f->config,       f->data, f->range,
                      f->input_scale, f->input_offset, f->json, f->options};
      RunCertify(c, f->certify);
      return;
    }
    f->instances.empty() ? RunSingle(*f) : RunList(*f);
  });
}

}  // namespace qrepair::cli
