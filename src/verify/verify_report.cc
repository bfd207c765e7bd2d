// JSON and words of verification results (verify_report.h).
#include "qrepair/verify/verify_report.h"

#include <nlohmann/json.hpp>

namespace qrepair {

using nlohmann::json;

void to_json(json& j, const Counterexample& c) {
  j = json{{"region", c.region}, {"clause", c.clause}, {"input", c.input},
           {"codes", c.codes},   {"logits", c.logits}, {"output", c.output}};
}

void to_json(json& j, const VerifyStats& s) {
  j = json{{"branches", s.branches},
           {"leaves_bounds", s.leaves_bounds},
           {"leaves_points", s.leaves_points},
           {"leaves_smt", s.leaves_smt},
           {"smt_unknown", s.smt_unknown},
           {"falsification_points", s.falsification_points},
           {"proved_fraction", s.proved_fraction},
           {"seconds_bounds", s.seconds_bounds},
           {"seconds_smt", s.seconds_smt},
           {"seconds_falsify", s.seconds_falsify},
           {"work", s.work}};
}

json VerifyReportJson(const VerifyResult& result, const Property& property,
                      const std::string& model) {
  json j = {{"verdict", VerdictName(result.verdict)},
            {"property", property.source},
            {"model", model},
            {"seconds", result.seconds},
            {"counterexample", nullptr},
            {"stats", result.stats}};
  if (result.verdict == Verdict::kUnknown) j["reason"] = result.reason;
  if (result.counterexample) j["counterexample"] = *result.counterexample;
  return j;
}

std::string CounterexampleFileText(const Counterexample& counterexample, const Property& property,
                                   const std::string& model) {
  json j = {{"property", property.source},
            {"model", model},
            {"verdict", "violated"},
            {"counterexample", counterexample}};
  return j.dump(2) + "\n";
}

std::string ResultWord(const VerifyResult& result) {
  if (result.verdict == Verdict::kUnknown && result.reason.rfind("time", 0) == 0) return "timeout";
  return VerdictName(result.verdict);
}

}  // namespace qrepair
