// `qrepair verify MODEL --data D --labels L --radius R ...`: data-set certification (local
// robustness or float-vs-integer equivalence around every sample), the mode `verify` switches to
// when --radius is given.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "qrepair/verify/verifier.h"

namespace qrepair::cli {

struct CertifyFlags {
  std::vector<double> radii;
  std::string property = "robust";  // or "equivalent" (from verify's --property)
  std::string labels;
  std::string target = "labels";
  std::string clip;               // "LO:HI" valid raw range; default from the data's type
  std::string calibration_range;  // float model + --config: rows to calibrate on
  double run_time_limit = 0;      // the whole run
  std::string report, report_md, counterexamples;
  bool resume = false;
};

// What the certification shares with the single-property mode.
struct CertifyCommon {
  std::string model, config, data, range;
  double input_scale = 1.0, input_offset = 0.0;
  bool json = false;
  VerifyOptions options;  // per (sample, radius)
};

void AddCertifyFlags(CLI::App* cmd, CertifyFlags& flags);
void RunCertify(const CertifyCommon& common, const CertifyFlags& flags);

}  // namespace qrepair::cli
