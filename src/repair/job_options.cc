// The per-job repair options of a batch: their types, defaults and checks, and their mapping
// onto RepairJobOptions. The same table serves the manifest and the batch command's flags.
#include "qrepair/repair/job_options.h"

#include <algorithm>
#include <cmath>

#include "qrepair/error.h"
#include "qrepair/quant/init.h"
#include "qrepair/rank/ranking.h"
#include "qrepair/solver/neuron_solver.h"

namespace qrepair {

using nlohmann::json;

namespace {

// "" when `text` is one of the comma-separated `choices`, else what is wrong.
std::string CheckChoice(const std::string& text, const std::string& choices) {
  std::string item;
  for (size_t i = 0; i <= choices.size(); ++i) {
    if (i == choices.size() || choices[i] == ',') {
      if (item == text) return "";
      item.clear();
    } else {
      item += choices[i];
    }
  }
  std::string pretty = choices;
  std::replace(pretty.begin(), pretty.end(), ',', ' ');
  return "unknown value '" + text + "'; expected one of: " + pretty;
}

std::string CheckRankMethod(const std::string& text) {
  std::string list;
  for (const std::string& n : RankMethodNames()) list += (list.empty() ? "" : ",") + n;
  return CheckChoice(text, list);
}

std::string CheckAugment(const std::string& text) {
  try {
    ParseAugmentation(text, "augment");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// Defaults as `qrepair repair` had them when this was written; the batch command uses the repair
// command's current ones (see JobOptionDefaults).
const std::vector<JobOptionSpec>& JobOptionSpecs() {
  using T = JobOptionType;
  static const std::vector<JobOptionSpec> specs = {
      {"config", T::kPath, "null", "Quantization config JSON"},
      {"data", T::kPath, "null", "Samples: IDX (.gz), CSV or .npy"},
      {"labels", T::kPath, "null", "Labels: IDX, .npy or one integer per line"},
      {"input_scale", T::kNumber, "1.0", "Network input = raw * scale + offset", -1e30, 1e30},
      {"input_offset", T::kNumber, "0.0", "See input_scale", -1e30, 1e30},
      {"repair_range", T::kRange, "\"0:5000\"", "Rows A:B the repair may look at"},
      {"holdout_range", T::kRange, "null", "Rows A:B only measured"},
      {"neurons", T::kInteger, "16", "Most critical neurons tried per round", 1, 1e6},
      {"layers", T::kStringList, "[]", "Only repair these layers (names)"},
      {"max_delta", T::kInteger, "2", "Largest change of an integer weight", 1, 1 << 15},
      {"margin", T::kInteger, "1", "Logit quanta a fixed sample must win by", 0, 1 << 30},
      {"keep_margin", T::kInteger, "0", "Passing samples keep min(their margin, this)", 0, 1 << 30},
      {"max_changes", T::kInteger, "8", "Weights changed per neuron and solve (0: no bound)", 0,
       1 << 20},
      {"target", T::kString, "\"float\"", "float or labels", 0, 0, "float,labels"},
      {"time_limit", T::kNumber, "120.0", "Wall-clock seconds per job", 0.001, 1e9},
      {"call_time_limit", T::kNumber, "30.0", "Seconds per solver call", 0.001, 1e9},
      {"work_limit", T::kInteger, "0", "Millions of Z3 resource units per job (0: off)", 0, 1e12},
      {"call_work_limit", T::kInteger, "100", "Millions of Z3 resource units per solver call", 0,
       1e12},
      {"memory_limit", T::kInteger, "4096", "MiB per solver process", 16, 1 << 24},
      {"encoding", T::kString, "\"lia\"", "bv, pb or lia", 0, 0, "bv,pb,lia"},
      {"init", T::kString, "\"gptq-float\"", "Starting rounding", 0, 0, "rtn,gptq,gptq-float"},
      {"augment", T::kString, "\"none\"", "Init calibration: none, shift, shift8, shift:HxW", 0, 0,
       "", CheckAugment},
      {"guard", T::kString, "\"augment\"", "Inputs that guard the SMT stage: augment or none", 0, 0,
       "augment,none"},
      {"strategy", T::kString, "\"default\"", "default or qnnrepair", 0, 0, "default,qnnrepair"},
      {"rank_method", T::kString, "\"gradient\"", "Neuron ranking (see `qrepair rank --help`)", 0,
       0, "", CheckRankMethod},
      {"max_rounds", T::kInteger, "8", "Ranking/solving rounds", 1, 1e6},
      {"max_passing_rows", T::kInteger, "2000", "Hidden layers: passing samples per problem", 1,
       1e8},
      {"allow_broken", T::kBool, "false", "Accept patches that break passing samples"},
  };
  return specs;
}

const JobOptionSpec* FindJobOption(const std::string& key) {
  for (const JobOptionSpec& s : JobOptionSpecs()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

namespace {

std::string TypeName(JobOptionType t) {
  switch (t) {
    case JobOptionType::kPath:
      return "a file path (string)";
    case JobOptionType::kString:
      return "a string";
    case JobOptionType::kRange:
      return "a row range \"A:B\"";
    case JobOptionType::kNumber:
      return "a number";
    case JobOptionType::kInteger:
      return "an integer";
    case JobOptionType::kBool:
      return "true or false";
    case JobOptionType::kStringList:
      return "an array of strings";
  }
  return "";
}

}  // namespace

// Checks `value` against `spec` and normalizes it in place; returns "" or what is wrong.
std::string CheckJobOption(const JobOptionSpec& spec, json& value) {
  bool nullable = std::string(spec.default_json) == "null";
  if (value.is_null()) return nullable ? "" : "expected " + TypeName(spec.type) + ", got null";
  std::string expected = "expected " + TypeName(spec.type) + ", got " + value.dump();
  switch (spec.type) {
    case JobOptionType::kPath:
      if (!value.is_string() || value.get<std::string>().empty()) return expected;
      return "";
    case JobOptionType::kString: {
      if (!value.is_string()) return expected;
      const std::string text = value.get<std::string>();
      return spec.check != nullptr ? spec.check(text) : CheckChoice(text, spec.choices);
    }
    case JobOptionType::kRange: {
      if (!value.is_string()) return expected;
      try {
        RowRange r = ParseRowRange(value.get<std::string>(), "range");
        value = std::to_string(r.begin) + ":" + (r.end < 0 ? std::string() : std::to_string(r.end));
      } catch (const Error&) {
        return "expected \"A:B\" with 0 <= A < B (either side may be empty), got " + value.dump();
      }
      return "";
    }
    case JobOptionType::kNumber:
    case JobOptionType::kInteger: {
      bool integer = spec.type == JobOptionType::kInteger;
      if (!value.is_number() || (integer && !value.is_number_integer())) return expected;
      double v = value.get<double>();
      if (!std::isfinite(v) || v < spec.min || v > spec.max) {
        return value.dump() + " is out of range " + json(spec.min).dump() + ".." +
               json(spec.max).dump();
      }
      if (integer) {
        value = value.get<int64_t>();
      } else {
        value = v;  // 60 and 60.0 give the same key
      }
      return "";
    }
    case JobOptionType::kBool:
      return value.is_boolean() ? "" : expected;
    case JobOptionType::kStringList:
      if (!value.is_array()) return expected;
      for (const json& item : value) {
        if (!item.is_string() || item.get<std::string>().empty()) return expected;
      }
      return "";
  }
  return "";
}

json JobOptionDefaults() {
  json out = json::object();
  for (const JobOptionSpec& s : JobOptionSpecs()) out[s.key] = json::parse(s.default_json);
  return out;
}

RepairJobOptions RepairJobOptionsFromJson(const json& j) {
  auto path = [&](const char* key) {
    return j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  RepairJobOptions o;
  o.model = path("model");
  o.config = path("config");
  o.data.data_path = path("data");
  o.data.labels_path = path("labels");
  o.data.input_scale = j["input_scale"].get<double>();
  o.data.input_offset = j["input_offset"].get<double>();
  o.repair_range = ParseRowRange(j["repair_range"].get<std::string>(), "repair_range");
  o.has_holdout = j["holdout_range"].is_string();
  if (o.has_holdout)
    o.holdout_range = ParseRowRange(j["holdout_range"].get<std::string>(), "holdout_range");
  o.init = ParseInitMethod(j["init"].get<std::string>(), "init");
  o.augment = ParseAugmentation(j["augment"].get<std::string>(), "augment");
  o.guard = j["guard"] == "augment";
  RepairOptions& r = o.repair;
  r.neurons = j["neurons"].get<int>();
  r.layers = j["layers"].get<std::vector<std::string>>();
  r.target = j["target"] == "float" ? RepairTarget::kFloat : RepairTarget::kLabels;
  r.rank_method = ParseRankMethod(j["rank_method"].get<std::string>());
  r.build.max_delta = j["max_delta"].get<int64_t>();
  r.build.margin = j["margin"].get<int64_t>();
  r.build.keep_margin = j["keep_margin"].get<int64_t>();
  r.solver.max_changes = j["max_changes"].get<int>();
  r.build.max_passing_rows = j["max_passing_rows"].get<int>();
  r.solver.encoding = ParseEncoding(j["encoding"].get<std::string>());
  r.solver.time_limit_seconds = j["call_time_limit"].get<double>();
  r.solver.memory_limit_mb = j["memory_limit"].get<uint64_t>();
  r.solver.work_limit = j["call_work_limit"].get<uint64_t>() * kWorkUnit;
  r.work_limit = j["work_limit"].get<uint64_t>() * kWorkUnit;
  r.strategy = ParseStrategy(j["strategy"].get<std::string>());
  r.time_limit_seconds = j["time_limit"].get<double>();
  r.max_rounds = j["max_rounds"].get<int>();
  r.allow_broken = j["allow_broken"].get<bool>();
  r.jobs = 1;
  o.echo = j;
  return o;
}

}  // namespace qrepair
