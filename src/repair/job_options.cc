// The per-job repair options of a batch: their types, defaults and checks, and their mapping
// onto RepairJobOptions. The same table serves the manifest and the batch command's flags.
#include "qrepair/repair/job_options.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

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

// The one declaration of every job option, in `qrepair repair --help`'s order. `help` is the
// repair command's flag help, `brief` the batch command's and the manifest's.
const std::vector<JobOptionSpec>& JobOptionSpecs() {
  using T = JobOptionType;
  constexpr double kMaxWork = 1099511627776.0;  // 2^40 millions of units: no real job reaches it
  static const std::vector<JobOptionSpec> specs = {
      {"config", T::kPath, "null", "Quantization config JSON", "Quantization config JSON"},
      {"data", T::kPath, "null", nullptr, "Samples: IDX (.gz), CSV or .npy"},
      {"labels", T::kPath, "null", nullptr, "Labels: IDX, .npy or one integer per line"},
      {"input_scale", T::kNumber, "1.0", nullptr, "Network input = raw * scale + offset", -1e30,
       1e30, true},
      {"input_offset", T::kNumber, "0.0", nullptr, "See input_scale", -1e30, 1e30, true},
      {"repair_range", T::kRange, "\"0:5000\"", "Rows A:B the repair may look at",
       "Rows A:B the repair may look at"},
      {"holdout_range", T::kRange, "null", "Rows A:B only measured, never repaired on",
       "Rows A:B only measured"},
      {"neurons", T::kInteger, "16", "Most critical neurons tried per round (K)",
       "Most critical neurons tried per round", 1, 1e6, true},
      {"layers", T::kStringList, "[]", "Only repair these layers (names)",
       "Only repair these layers (names)"},
      {"max_delta", T::kInteger, "2", "Largest change of an integer weight from its start value",
       "Largest change of an integer weight", 1, 1 << 15},
      {"margin", T::kInteger, "1", "Logit quanta a fixed sample's target must win by",
       "Logit quanta a fixed sample must win by", 0, 1 << 30},
      {"keep_margin", T::kInteger, "0",
       "Passing samples keep min(their margin, this) logit quanta (guards unseen data)",
       "Passing samples keep min(their margin, this)", 0, 1 << 30},
      {"max_changes", T::kInteger, "8",
       "At most this many weights changed per neuron and solve (0: no bound)",
       "Weights changed per neuron and solve (0: no bound)", 0, 1 << 20},
      {"target", T::kString, "\"float\"",
       "float: agree with the float network; labels: true labels", "float or labels", 0, 0, false,
       "float,labels"},
      {"time_limit", T::kNumber, "120.0", "Wall-clock seconds for the whole job",
       "Wall-clock seconds per job", 0.001, 1e9, true},
      {"call_time_limit", T::kNumber, "30.0", "Seconds per solver call (killed from outside)",
       "Seconds per solver call", 0.001, 1e9, true},
      {"work_limit", T::kUnsigned, "0",
       "Deterministic budget for the whole job in millions of Z3 resource units (0: off); "
       "results then do not depend on machine speed (see docs/repair.md)",
       "Millions of Z3 resource units per job (0: off)", 0, kMaxWork},
      {"call_work_limit", T::kUnsigned, "100",
       "Millions of Z3 resource units per solver call (0: only the job's budget)",
       "Millions of Z3 resource units per solver call", 0, kMaxWork},
      {"memory_limit", T::kUnsigned, "4096", "MiB per solver process", "MiB per solver process", 16,
       1 << 24, true},
      {"encoding", T::kString, "\"lia\"", "bv, pb or lia", "bv, pb or lia", 0, 0, false,
       "bv,pb,lia"},
      {"init", T::kString, "\"gptq-float\"", "Starting rounding: rtn, gptq, gptq-float",
       "Starting rounding", 0, 0, false, "rtn,gptq,gptq-float"},
      {"augment", T::kString, "\"auto\"",
       "Init calibration: auto (shift8 when the samples are images, else none), none, or the "
       "repair images also shifted by one pixel: shift (4 directions), shift8 (and diagonals); "
       "shift:HxW for flat inputs",
       "Init calibration: auto, none, shift, shift8, shift:HxW", 0, 0, false, "", CheckAugment},
      {"guard", T::kString, "\"augment\"",
       "Inputs that guard the SMT stage: augment (the --augment copies: a verified patch "
       "that lowers the agreement with float on them is refused) or none",
       "Inputs that guard the SMT stage: augment or none", 0, 0, false, "augment,none"},
      {"strategy", T::kString, "\"default\"", "default or qnnrepair", "default or qnnrepair", 0, 0,
       false, "default,qnnrepair"},
      {"rank_method", T::kString, "\"gradient\"", "Neuron ranking (see `qrepair rank --help`)",
       "Neuron ranking (see `qrepair rank --help`)", 0, 0, false, "", CheckRankMethod},
      {"max_rounds", T::kInteger, "8", "Ranking/solving rounds", "Ranking/solving rounds", 1, 1e6,
       true},
      {"max_passing_rows", T::kInteger, "2000", "Hidden layers: passing samples per problem",
       "Hidden layers: passing samples per problem", 1, 1e8, true},
      {"allow_broken", T::kBool, "false",
       "Accept patches that break passing samples when the net gain is positive",
       "Accept patches that break passing samples"},
      {"property", T::kStringList, "[]",
       "VNN-LIB property the repaired network must be proved to have (repeatable): after the "
       "accuracy repair, verify, turn counterexamples into constraints, repair, until every "
       "property holds (docs/verification.md)",
       "VNN-LIB properties to repair until proved"},
      {"robust_radius", T::kNumber, "0.0",
       "Repair until the repair samples the network gets right are certified robust at this "
       "L-infinity radius in the data's own units (0: off; docs/verification.md)",
       "Radius the right repair samples must be certified robust at (0: off)", 0, 1e30, true},
      {"robust_range", T::kRange, "null",
       "Rows A:B (inside --repair-range) that --robust-radius covers (default: the repair range)",
       "Rows covered by robust_radius"},
      {"property_time_limit", T::kNumber, "60.0",
       "Seconds per property and round of verification (also capped by --time-limit)",
       "Seconds per property verification", 0.001, 1e9, true},
  };
  return specs;
}

const JobOptionSpec* FindJobOption(const std::string& key) {
  for (const JobOptionSpec& s : JobOptionSpecs()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

std::string JobOptionFlag(const JobOptionSpec& spec) {
  std::string flag = "--" + std::string(spec.key);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
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
    case JobOptionType::kUnsigned:
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
    case JobOptionType::kInteger:
    case JobOptionType::kUnsigned: {
      bool integer = spec.type != JobOptionType::kNumber;
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
  r.strategy = ParseStrategy(j["strategy"].get<std::string>());
  r.max_rounds = j["max_rounds"].get<int>();
  r.allow_broken = j["allow_broken"].get<bool>();
  r.jobs = 1;
  o.properties = j["property"].get<std::vector<std::string>>();
  o.property_seconds = j["property_time_limit"].get<double>();
  o.robust_radius = j["robust_radius"].get<double>();
  o.has_robust_range = j["robust_range"].is_string();
  if (o.has_robust_range)
    o.robust_range = ParseRowRange(j["robust_range"].get<std::string>(), "robust_range");
  o.limits.job_seconds = j["time_limit"].get<double>();
  o.limits.job_work = j["work_limit"].get<uint64_t>() * kWorkUnit;
  o.limits.call_seconds = j["call_time_limit"].get<double>();
  o.limits.call_work = j["call_work_limit"].get<uint64_t>() * kWorkUnit;
  o.limits.call_memory_mb = j["memory_limit"].get<uint64_t>();
  o.echo = j;
  return o;
}

}  // namespace qrepair
