// The repair report: every figure in it comes from the reference integer pass, re-run on the
// final network independently of the solver.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "qrepair/quant/evaluate.h"
#include "qrepair/repair/property_repair.h"
#include "qrepair/repair/repair.h"

namespace qrepair {

struct StageFigures {
  EvalSummary repair;
  EvalSummary holdout;  // samples == 0 when no holdout range was given
};

struct RepairReport {
  std::string model;
  std::string model_sha256;
  std::string tool_version;
  nlohmann::json* options = nullptr;  // command-line options, echoed (not owned)
  StageFigures before;                // round-to-nearest
  StageFigures init;                  // after --init (equals before for rtn)
  StageFigures after;                 // the written network
  std::string init_method;
  // The weight scale rule of each stage: round to nearest (the baseline) is the config's rule
  // (max-abs when it names none); the init's is "mse (searched: ...)" or "as the config".
  std::string rtn_scales = "as the config";
  std::string init_scales = "as the config";
  int init_layers = 0;         // linear layers
  int init_layers_done = 0;    // of them, re-derived by the init (fewer: the limit cut it short)
  std::string start = "init";  // where the SMT stage started: "init", or "rtn" when the
                               // init was worse on the repair set
  std::string augment;         // the init's calibration augmentation (AugmentationName)
  std::string augment_reason;  // why: "given", or what --augment auto saw in the data
  std::vector<NeuronChange> changes;
  SolverStats solver;
  int rounds = 0;
  std::string stopped;      // why the SMT stage stopped (RepairResult::stopped)
  int64_t fixed = 0;        // repair samples wrong before repair and right after
  int64_t broken = 0;       // repair samples right before repair and wrong after
  int64_t stage_fixed = 0;  // the same, counted from the start of the SMT stage (after init)
  int64_t stage_broken = 0;
  bool verified = false;
  std::string verification_note;
  std::string status;  // "repaired", "no_improvement", "limit_reached", "interrupted"
  double seconds = 0;
  double init_seconds = 0;
  std::vector<std::pair<std::pair<int, int>, int64_t>> fixed_confusions;  // (from, to) -> count
  // The guard set (RepairOptions::guard): how many inputs, on how many of them the integer
  // top-1 equals the float one at the start of the SMT stage and in the written network (the
  // latter re-measured by the reference pass), and how many verified patches it refused.
  struct Guard {
    int64_t inputs = 0;
    int64_t agree_before = 0;
    int64_t agree_after = 0;
    int64_t refused = 0;
  } guard;
  // Repair until proved (--property): each property's verdict before the property stage and on
  // the written file (re-verified after parsing it back), and the stage's figures.
  std::vector<PropertyOutcome> properties;
  struct PropertyStage {
    int rounds = 0;
    std::string stopped;
    int64_t counterexamples = 0;
    int64_t counterexamples_fixed = 0;
    std::vector<std::string> widenings;
    size_t neurons = 0;  // the last `neurons` entries of `changes` are the stage's
    double seconds = 0;
  } property_stage;
  // --robust-radius: the right repair samples of the robust range, and how many of them are
  // certified robust (over the box of the ball) at the stage's start and on the written file.
  struct Robustness {
    double radius = 0;
    int64_t samples = 0;  // rows of the robust range
    int64_t right = 0;    // of them, classified right at the stage's start (the goals)
    int64_t certified_before = 0, certified_after = 0;
    int64_t violated_after = 0, unknown_after = 0;
  } robustness;
};

nlohmann::json ReportToJson(const RepairReport& report);
std::string ReportToMarkdown(const RepairReport& report);
// The before/after table printed on stdout.
std::string ReportSummaryTable(const RepairReport& report);

}  // namespace qrepair
