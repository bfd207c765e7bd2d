// Data-set certification around every sample of a data set, at one or more radii (issue: certify
// data sets): local robustness of the deployed integer network (each (sample, radius) is a
// verifier call on DecisionChangeProperty, local_robustness.h), or equivalence of the float and
// the integer network's decisions (equivalence.h). Finished verdicts are appended to a journal as
// they come, so a killed run resumes without losing one.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "qrepair/io/dataset.h"
#include "qrepair/model/network.h"
#include "qrepair/model/quantized_network.h"
#include "qrepair/verify/local_robustness.h"
#include "qrepair/verify/verifier.h"

namespace qrepair {

enum class CertifyTarget { kLabels, kFloat };  // the label, or the float network's top-1
enum class CertifyProperty { kRobust, kEquivalent };
const char* CertifyPropertyName(CertifyProperty p);  // "robust", "equivalent"

// One verdict word per (sample, radius): "robust" (proved), "non-robust" (a counterexample on
// the grid, confirmed by the reference pass), "misclassified" (the quantized network already
// misses the target at the sample: no robustness verdict, as the literature counts them),
// "unknown" (a limit, or a counterexample between grid points). For the equivalent property:
// "equivalent" (proved: every input of the ball gets the same top-1 from both networks),
// "non-equivalent" (a grid point where they differ, confirmed by exact arithmetic and by both
// passes), "unknown" (a limit, or a point the float32 pass cannot confirm: too close to a tie).
// `target` is then the float network's top-1 at the sample, `predicted` the integer network's.
struct SampleCertificate {
  int64_t index = 0;  // row in the data file
  int label = -1;     // -1 without labels
  int target = 0;
  int predicted = 0;  // the quantized network's top-1 at the sample
  double radius = 0;
  std::string verdict;
  std::string reason;  // unknown: why
  double seconds = 0;
  std::vector<double> counterexample_raw;  // non-robust: the grid point, raw units
  int counterexample_top1 = -1;            // the integer network's top-1 there
  int counterexample_float_top1 = -1;      // equivalent: the float network's top-1 there
  std::string counterexample_file;         // written .npy, or empty
};

// For the equivalent property `robust` counts equivalent samples and `non_robust` non-equivalent
// ones (the JSON and Markdown name them so); `misclassified` stays 0.
struct RadiusSummary {
  CertifyProperty property = CertifyProperty::kRobust;
  double radius = 0;
  int64_t samples = 0, robust = 0, non_robust = 0, misclassified = 0, unknown = 0;
  double seconds_total = 0, seconds_max = 0;
  int64_t Decided() const { return robust + non_robust + misclassified; }
};

struct CertifyOptions {
  std::vector<double> radii;  // raw units, each > 0
  CertifyProperty property = CertifyProperty::kRobust;
  CertifyTarget target = CertifyTarget::kLabels;  // robust only
  RawInputMap map;
  VerifyOptions verify;            // per (sample, radius)
  double time_limit_seconds = 0;   // the whole run; 0 = none (the rest become unknown)
  std::string journal_path;        // JSON lines, one per finished verdict; empty = none
  bool resume = false;             // reuse the journal's verdicts made with the same setup
  std::string setup_key;           // what a journal line must match to be reused (model, data...)
  std::string counterexample_dir;  // one-row raw .npy per counterexample; empty = none
  const std::atomic<bool>* stop = nullptr;
};

struct CertifyResult {
  std::vector<SampleCertificate> samples;  // by radius, then by row
  std::vector<RadiusSummary> summary;      // one per radius
  int64_t resumed = 0;                     // verdicts taken from the journal
  bool interrupted = false;
};

using VerifierFn =
    std::function<VerifyResult(const QuantizedNetwork&, const Property&, const VerifyOptions&)>;

// `float_network` is needed for CertifyTarget::kFloat and the equivalent property (else may be
// null). `data` holds the
// samples (network inputs, mapped as options.map says) with labels for kLabels. Progress goes to
// the log; `on_verdict` (optional) sees each verdict as it is final.
CertifyResult CertifyDataset(const QuantizedNetwork& network, const Network* float_network,
                             const Dataset& data, const CertifyOptions& options,
                             const VerifierFn& verifier = VerifyProperty,
                             const std::function<void(const SampleCertificate&)>& on_verdict = {});

// Whether the integer network keeps `target` on every grid point (real point for real data) of
// `ball`: the verifier on the ball's box, with a counterexample between grid points split away
// (local_robustness.h). kViolated carries a grid point where the reference pass's top-1 is not
// the target.
struct BallDecision {
  Verdict verdict = Verdict::kUnknown;
  std::string reason;       // kUnknown
  std::vector<double> raw;  // kViolated: the point, raw units
  int top1 = -1;            // kViolated: the integer network's top-1 there
  int calls = 0;            // verifier calls
};
BallDecision VerifyBallDecision(const QuantizedNetwork& network, const RawInputMap& map,
                                const RawBall& ball, int target, const VerifyOptions& limits,
                                const VerifierFn& verifier, const std::string& name);

void to_json(nlohmann::json& json, const SampleCertificate& c);
void to_json(nlohmann::json& json, const RadiusSummary& s);
// The Markdown report: the setup lines, the per-radius table and the per-sample rows.
std::string CertifyMarkdown(const CertifyResult& result, const std::vector<std::string>& setup);

// A one-row NumPy .npy (float64, shape [1, n]) of raw values: `qrepair eval --data` re-runs it.
std::string OneRowNpy(const std::vector<double>& raw);

}  // namespace qrepair
