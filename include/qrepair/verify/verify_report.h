// What `qrepair verify` prints and writes about a result: the `--json` object, the counterexample
// file, and the words of VNN-COMP's result files. JSON converters sit beside the types here
// because verifier.h stays free of nlohmann.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "qrepair/verify/property.h"
#include "qrepair/verify/verifier.h"

namespace qrepair {

// {"region", "clause", "input": [reals], "codes": [ints], "logits": [ints], "output": [reals]}
void to_json(nlohmann::json& json, const Counterexample& counterexample);
// {"branches", "leaves_bounds", ..., "proved_fraction", "seconds_bounds", ..., "work"}
void to_json(nlohmann::json& json, const VerifyStats& stats);

// {"verdict", "reason" (unknown only), "property", "model", "seconds", "counterexample": {...}
//  | null, "stats": {...}}
nlohmann::json VerifyReportJson(const VerifyResult& result, const Property& property,
                                const std::string& model);

// The counterexample file (--counterexample, and DIR/counterexamples/ of an instance run):
// {"property", "model", "verdict": "violated", "counterexample": {...}}.
std::string CounterexampleFileText(const Counterexample& counterexample, const Property& property,
                                   const std::string& model);

// The word of a results table: VerdictName, except "timeout" for an unknown whose limit was
// the time limit (VNN-COMP's words: holds, violated, timeout, unknown).
std::string ResultWord(const VerifyResult& result);

}  // namespace qrepair
