// Batch summary files, the CI gates and the batch exit code.
#include "qrepair/batch/batch_summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "qrepair/io/atomic_file.h"
#include "qrepair/version.h"

namespace qrepair {

using nlohmann::json;

bool JobFinished(const std::string& status) {
  return status == "repaired" || status == "no_improvement" || status == "limit_reached";
}

json EntryToJson(const BatchEntry& e) {
  return {{"name", e.name},
          {"status", e.status},
          {"exit_code", e.exit_code},
          {"message", e.message},
          {"seconds", e.seconds},
          {"before", e.before},
          {"after", e.after},
          {"neurons_repaired", e.neurons_repaired},
          {"weights_changed", e.weights_changed},
          {"resumed", e.resumed}};
}

BatchEntry EntryFromJson(const json& j, const std::string& source, const std::string& path) {
  if (!j.is_object()) throw BadInput(source, path, "expected a job object");
  auto field = [&](const char* key, bool (json::*is)() const noexcept,
                   const char* what) -> const json& {
    if (!j.contains(key) || !(j[key].*is)())
      throw BadInput(source, path + "." + key, std::string("expected ") + what);
    return j[key];
  };
  BatchEntry e;
  e.name = field("name", &json::is_string, "a string").get<std::string>();
  e.status = field("status", &json::is_string, "a string").get<std::string>();
  e.exit_code = field("exit_code", &json::is_number_integer, "an integer").get<int>();
  e.message = field("message", &json::is_string, "a string").get<std::string>();
  e.seconds = field("seconds", &json::is_number, "a number").get<double>();
  e.neurons_repaired =
      field("neurons_repaired", &json::is_number_integer, "an integer").get<int64_t>();
  e.weights_changed =
      field("weights_changed", &json::is_number_integer, "an integer").get<int64_t>();
  e.resumed = field("resumed", &json::is_boolean, "true or false").get<bool>();
  for (const char* key : {"before", "after"}) {
    if (!j.contains(key) || !(j[key].is_null() || j[key].is_object())) {
      throw BadInput(source, path + "." + key, "expected the report's figures object or null");
    }
  }
  e.before = j["before"];
  e.after = j["after"];
  return e;
}

namespace {

// figures["holdout"] when measured, else figures["repair"]; null when absent.
const json& Measured(const json& figures) {
  static const json kNull;
  if (!figures.is_object()) return kNull;
  if (figures.contains("holdout") && figures["holdout"].is_object()) return figures["holdout"];
  if (figures.contains("repair") && figures["repair"].is_object()) return figures["repair"];
  return kNull;
}

std::optional<double> Number(const json& figures, const char* key) {
  if (!figures.is_object() || !figures.contains(key) || !figures[key].is_number())
    return std::nullopt;
  return figures[key].get<double>();
}

std::string Format(std::optional<double> v, double scale, const char* fmt, const char* missing) {
  if (!v) return missing;
  char buf[48];
  std::snprintf(buf, sizeof buf, fmt, *v * scale);
  return buf;
}

}  // namespace

std::string SummaryCsv(const std::vector<BatchEntry>& entries) {
  // Figures are fractions, as in report.json; holdout figures (empty when no holdout range).
  std::string out =
      "name,status,exit_code,float_holdout_accuracy,before_holdout_accuracy,before_holdout_"
      "agreement,"
      "after_holdout_accuracy,after_holdout_agreement,weights_changed,seconds\n";
  for (const BatchEntry& e : entries) {
    auto holdout = [](const json& f) -> const json& {
      static const json kNull;
      return f.is_object() && f.contains("holdout") ? f["holdout"] : kNull;
    };
    const json& b = holdout(e.before);
    const json& a = holdout(e.after);
    // Names are [A-Za-z0-9._-] and statuses are fixed words: nothing to quote.
    out += e.name + "," + e.status + "," + std::to_string(e.exit_code) + "," +
           Format(Number(a, "float_accuracy"), 1, "%.6f", "") + "," +
           Format(Number(b, "accuracy"), 1, "%.6f", "") + "," +
           Format(Number(b, "agreement"), 1, "%.6f", "") + "," +
           Format(Number(a, "accuracy"), 1, "%.6f", "") + "," +
           Format(Number(a, "agreement"), 1, "%.6f", "") + "," +
           (e.after.is_null() ? std::string() : std::to_string(e.weights_changed)) + "," +
           Format(e.seconds, 1, "%.1f", "") + "\n";
  }
  return out;
}

std::string SummaryMarkdown(const std::vector<BatchEntry>& entries) {
  std::string out =
      "| job | status | float acc % | before acc % | before agree % | after acc % | after agree % "
      "| weights | s |\n"
      "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const BatchEntry& e : entries) {
    const json& b = Measured(e.before);
    const json& a = Measured(e.after);
    out += "| " + e.name + " | " + e.status + (e.resumed ? " (resumed)" : "") + " | " +
           Format(Number(a, "float_accuracy"), 100, "%.2f", "-") + " | " +
           Format(Number(b, "accuracy"), 100, "%.2f", "-") + " | " +
           Format(Number(b, "agreement"), 100, "%.2f", "-") + " | " +
           Format(Number(a, "accuracy"), 100, "%.2f", "-") + " | " +
           Format(Number(a, "agreement"), 100, "%.2f", "-") + " | " +
           (e.after.is_null() ? std::string("-") : std::to_string(e.weights_changed)) + " | " +
           Format(e.seconds, 1, "%.1f", "-") + " |\n";
  }
  for (const BatchEntry& e : entries) {
    if (!JobFinished(e.status) && !e.message.empty()) out += "\n" + e.name + ": " + e.message;
  }
  bool any_failed = false;
  for (const BatchEntry& e : entries) any_failed |= !JobFinished(e.status) && !e.message.empty();
  if (any_failed) out += "\n";
  return out;
}

Shard ParseShard(const std::string& text) {
  Shard s;
  char slash = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &s.index, &slash, &s.count, &extra) != 3 ||
      slash != '/' || s.count < 1 || s.index < 1 || s.index > s.count) {
    throw Error(ExitCode::kUsage, "--shard: expected I/N with 1 <= I <= N, got '" + text + "'");
  }
  return s;
}

bool InShard(size_t job_index, const Shard& shard) {
  return static_cast<int>(job_index % static_cast<size_t>(shard.count)) == shard.index - 1;
}

json MetaToJson(const BatchMeta& m) {
  json j = {{"tool", "qrepair"},
            {"version", kVersion},
            {"manifest", m.manifest},
            {"manifest_sha256", m.manifest_sha256},
            {"shard", {{"index", m.shard.index}, {"count", m.shard.count}}},
            {"all_jobs", m.all_jobs},
            {"jobs_run", m.jobs_run},
            {"jobs_resumed", m.jobs_resumed}};
  if (!m.merged_from.empty()) j["merged_from"] = m.merged_from;
  return j;
}

BatchMeta MetaFromJson(const json& j, const std::string& source) {
  BatchMeta m;
  try {
    m.manifest = j.at("manifest").get<std::string>();
    m.manifest_sha256 = j.at("manifest_sha256").get<std::string>();
    m.shard.index = j.at("shard").at("index").get<int>();
    m.shard.count = j.at("shard").at("count").get<int>();
    m.all_jobs = j.at("all_jobs").get<std::vector<std::string>>();
    m.jobs_run = j.at("jobs_run").get<int64_t>();
    m.jobs_resumed = j.at("jobs_resumed").get<int64_t>();
  } catch (const json::exception& e) {
    throw BadInput(source, "$", std::string("not a qrepair batch.json: ") + e.what());
  }
  std::sort(m.all_jobs.begin(), m.all_jobs.end());
  if (m.shard.count < 1 || m.shard.index < 1 || m.shard.index > m.shard.count) {
    throw BadInput(source, "$.shard", "expected 1 <= index <= count");
  }
  return m;
}

void WriteBatchSummary(const std::string& dir, const BatchMeta& meta,
                       const std::vector<BatchEntry>& entries) {
  json summary = json::array();
  for (const BatchEntry& e : entries) summary.push_back(EntryToJson(e));
  WriteFileAtomic(dir + "/summary.json", summary.dump(2) + "\n");
  WriteFileAtomic(dir + "/summary.csv", SummaryCsv(entries));
  WriteFileAtomic(dir + "/batch.json", MetaToJson(meta).dump(2) + "\n");
}

std::vector<std::string> GateFailures(const std::vector<BatchEntry>& entries,
                                      const BatchGate& gate) {
  std::vector<std::string> out;
  if (!gate.fail_under_percent && !gate.fail_if_drop_pp) return out;
  char buf[256];
  for (const BatchEntry& e : entries) {
    if (!JobFinished(e.status)) continue;
    const json& a = Measured(e.after);
    std::optional<double> acc = Number(a, "accuracy"), float_acc = Number(a, "float_accuracy");
    if (!acc || !float_acc) {
      out.push_back(e.name + ": no accuracy to check (the job has no labels)");
      continue;
    }
    const char* range =
        e.after.contains("holdout") && e.after["holdout"].is_object() ? "holdout" : "repair range";
    // Accuracies are k/n fractions: compare with a tolerance so "2.5 pp" means 2.5,
    // not 2.5000000001.
    constexpr double kTolerance = 1e-9;
    if (gate.fail_under_percent && 100 * *acc < *gate.fail_under_percent - kTolerance) {
      std::snprintf(buf, sizeof buf, "%s: repaired %s accuracy %.2f %% is below --fail-under %g",
                    e.name.c_str(), range, 100 * *acc, *gate.fail_under_percent);
      out.emplace_back(buf);
    }
    double drop = 100 * (*float_acc - *acc);
    if (gate.fail_if_drop_pp && drop > *gate.fail_if_drop_pp + kTolerance) {
      std::snprintf(buf, sizeof buf,
                    "%s: %s accuracy drop from float %.2f pp exceeds --fail-if-drop %g",
                    e.name.c_str(), range, drop, *gate.fail_if_drop_pp);
      out.emplace_back(buf);
    }
  }
  return out;
}

ExitCode BatchExitCode(const std::vector<BatchEntry>& entries, bool interrupted,
                       bool gates_missed) {
  if (interrupted) return ExitCode::kInterrupted;
  for (const BatchEntry& e : entries) {
    if (!JobFinished(e.status)) return ExitCode::kBatchPartial;
  }
  return gates_missed ? ExitCode::kThresholdFailed : ExitCode::kSuccess;
}

}  // namespace qrepair
