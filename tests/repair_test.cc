// The repair loop (RunRepair) on the bundled tiny MLP and Fashion-MNIST: every accepted patch is
// confirmed by the reference pass, and the guard set refuses patches that cost agreement on it.
#include "qrepair/repair/repair.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "qrepair/io/model_loader.h"
#include "qrepair/quant/forward.h"
#include "qrepair/quant/init.h"
#include "qrepair/quant/quantize.h"
#include "qrepair/repair/repair_job.h"
#include "temp_dir.h"

namespace qrepair {
namespace {

const std::string kModel = QREPAIR_SOURCE_DIR "/models/tiny_mlp.onnx";
const std::string kImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const std::string kLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kImages) || !std::filesystem::exists(kLabels)) {
      GTEST_SKIP() << kImages << " is absent (Debian package dataset-fashion-mnist)";
    }
    net_ = LoadFloatNetwork(kModel);
    DataOptions d;
    d.data_path = kImages;
    d.labels_path = kLabels;
    d.input_scale = 1.0 / 255;
    d.range = RowRange{0, 3000};
    all_ = LoadDataset(d);
    repair_ = all_.Slice(0, 300);
    QuantConfig config;
    config.defaults.weight_bits = 4;
    config.defaults.granularity = Granularity::kPerTensor;
    config.activation_bits = 8;
    start_ = QuantizeNetwork(net_, config, InputBatch(repair_), kModel);
  }

  // Last layer only, one round, a fixed work budget per call: the same result on any machine.
  RepairOptions Options() const {
    RepairOptions o;
    o.layers = {net_.layers.back().name};
    o.neurons = 4;
    o.max_rounds = 1;
    return o;
  }
  // The whole run 120 s, a solver call 60 s, no work budget (SolverOptions' default).
  static Budget TestBudget() {
    BudgetLimits limits;
    limits.job_seconds = 120;
    limits.call_seconds = 60;
    limits.call_work = 0;
    return Budget::Start(limits);
  }

  // Inputs (columns) where the integer top-1 of `q` equals the float top-1.
  std::vector<bool> Agrees(const QuantizedNetwork& q, const FloatBatch& inputs) const {
    const std::vector<int> f = ArgmaxColumns(ForwardFloat(net_, inputs));
    const std::vector<int> p = PredictQuantized(q, inputs);
    std::vector<bool> out(f.size());
    for (size_t s = 0; s < f.size(); ++s) out[s] = f[s] == p[s];
    return out;
  }

  static int64_t Count(const std::vector<bool>& v) { return std::count(v.begin(), v.end(), true); }

  Network net_;
  Dataset all_;
  Dataset repair_;
  QuantizedNetwork start_;
};

QuantizedNetwork WithChange(QuantizedNetwork q, const NeuronChange& c) {
  QuantLayer& l = q.layers[c.layer];
  for (const WeightChange& w : c.changes) {
    if (w.input < 0) {
      l.bias_q[c.unit] = w.after;
    } else {
      l.weights_q[c.unit * l.FanIn() + w.input] = static_cast<int32_t>(w.after);
    }
  }
  return q;
}

TEST_F(RepairTest, AcceptedPatchesAreConfirmedByTheReferencePass) {
  const RepairResult r = RunRepair(net_, start_, repair_, Options(), TestBudget());
  ASSERT_FALSE(r.changes.empty()) << "the tiny MLP at 4 bits should have a last-layer fix";
  const FloatBatch x = InputBatch(repair_);
  const int64_t before = Count(Agrees(start_, x));
  EXPECT_EQ(r.right_before, before);
  // Replaying the reported changes on the start gives the returned network and its count.
  QuantizedNetwork replay = start_;
  for (const NeuronChange& c : r.changes) replay = WithChange(replay, c);
  EXPECT_EQ(replay.layers.back().weights_q, r.network.layers.back().weights_q);
  EXPECT_EQ(replay.layers.back().bias_q, r.network.layers.back().bias_q);
  const std::vector<bool> now = Agrees(r.network, x);
  EXPECT_EQ(r.right_after, Count(now));
  EXPECT_GT(r.right_after, r.right_before);
  // No sample right at the start is wrong at the end (allow_broken is off).
  const std::vector<bool> then = Agrees(start_, x);
  for (size_t s = 0; s < then.size(); ++s) EXPECT_FALSE(then[s] && !now[s]) << "sample " << s;
  EXPECT_EQ(r.broken, 0);
  EXPECT_EQ(r.guard_samples, 0);
}

// A guard made of the inputs the first unguarded patch breaks must refuse that patch, and the
// guarded run must end with at least the guard agreement it started with.
TEST_F(RepairTest, GuardSetRefusesPatchesThatLowerItsAgreement) {
  const RepairResult plain = RunRepair(net_, start_, repair_, Options(), TestBudget());
  ASSERT_FALSE(plain.changes.empty());
  const QuantizedNetwork first = WithChange(start_, plain.changes.front());
  const FloatBatch pool = InputBatch(all_, 300, 3000);  // outside the repair set
  const std::vector<bool> was = Agrees(start_, pool);
  const std::vector<bool> now = Agrees(first, pool);
  std::vector<int64_t> hurt;
  for (size_t s = 0; s < was.size(); ++s) {
    if (was[s] && !now[s]) hurt.push_back(static_cast<int64_t>(s));
  }
  ASSERT_FALSE(hurt.empty()) << "the first patch breaks none of 2700 other images";
  RepairOptions o = Options();
  o.guard.resize(pool.rows(), static_cast<Eigen::Index>(hurt.size()));
  for (size_t k = 0; k < hurt.size(); ++k)
    o.guard.col(static_cast<Eigen::Index>(k)) = pool.col(hurt[k]);

  const RepairResult guarded = RunRepair(net_, start_, repair_, o, TestBudget());
  EXPECT_EQ(guarded.guard_samples, static_cast<int64_t>(hurt.size()));
  EXPECT_EQ(guarded.guard_right_before, static_cast<int64_t>(hurt.size()));
  EXPECT_GE(guarded.guard_refused, 1);
  EXPECT_EQ(guarded.guard_right_after, Count(Agrees(guarded.network, o.guard)));
  EXPECT_EQ(guarded.guard_right_after, guarded.guard_right_before);
  for (const NeuronChange& c : guarded.changes) {
    EXPECT_FALSE(c.layer == plain.changes.front().layer && c.unit == plain.changes.front().unit &&
                 c.changes.size() == plain.changes.front().changes.size() &&
                 WithChange(start_, c).layers.back().weights_q == first.layers.back().weights_q)
        << "the guarded run accepted the patch its guard was built to refuse";
  }
  // The guard does not weaken the repair-set guarantees.
  EXPECT_EQ(guarded.broken, 0);
  EXPECT_EQ(guarded.right_after, Count(Agrees(guarded.network, InputBatch(repair_))));
}

// With the shifted copies of the repair images as the guard (what --augment gives), the guard's
// agreement never falls and is what the reference pass finds.
TEST_F(RepairTest, ShiftedCopiesAsGuardNeverLoseAgreement) {
  RepairOptions o = Options();
  Augmentation a = ParseAugmentation("shift:28x28");
  const FloatBatch x = InputBatch(repair_);
  const FloatBatch augmented = AugmentCalibration(x, a, net_.input_shape);
  o.guard = augmented.rightCols(augmented.cols() - x.cols());
  const RepairResult r = RunRepair(net_, start_, repair_, o, TestBudget());
  EXPECT_EQ(r.guard_samples, 4 * x.cols());
  EXPECT_EQ(r.guard_right_before, Count(Agrees(start_, o.guard)));
  EXPECT_EQ(r.guard_right_after, Count(Agrees(r.network, o.guard)));
  EXPECT_GE(r.guard_right_after, r.guard_right_before);
  EXPECT_EQ(r.right_after, Count(Agrees(r.network, x)));
}

// A further output that fails to render after the repair (an export the repaired network
// cannot take) leaves no file at all: not the repaired JSON, not the reports. Then the same job
// with a render that succeeds writes every file, so the first half cannot pass by writing
// nothing for another reason.
TEST_F(RepairTest, JobWritesNothingWhenAnOutputFailsToRender) {
  testing::TempDir dir("repair_job");
  std::ofstream(dir.Path("q.json"))
      << R"({"weights": {"bits": 4, "granularity": "per-tensor"}, "activations": {"bits": 8}})";
  RepairJobOptions o;
  o.model = kModel;
  o.config = dir.Path("q.json");
  o.data.data_path = kImages;
  o.data.labels_path = kLabels;
  o.data.input_scale = 1.0 / 255;
  o.repair_range = RowRange{0, 300};
  o.repair = Options();
  o.limits = TestBudget().limits();
  o.output = dir.Path("r.json");
  o.report_json = dir.Path("r.report.json");
  o.report_md = dir.Path("r.md");
  const std::vector<std::string> all = {o.output, o.report_json, o.report_md, dir.Path("r.extra")};
  bool rendered = false;
  o.render_extra = [&](const ModelFile&, const RepairReport&) -> std::vector<ExtraOutput> {
    rendered = true;
    throw BadInput("r.extra", "", "cannot be rendered (test)");
  };
  EXPECT_THROW(RunRepairJob(o), Error);
  EXPECT_TRUE(rendered);
  for (const std::string& f : all) EXPECT_FALSE(std::filesystem::exists(f)) << f << " was written";

  o.render_extra = [&](const ModelFile&, const RepairReport&) {
    return std::vector<ExtraOutput>{{dir.Path("r.extra"), "bytes", "test output"}};
  };
  RunRepairJob(o);
  for (const std::string& f : all) EXPECT_TRUE(std::filesystem::exists(f)) << f << " is missing";
}

}  // namespace
}  // namespace qrepair
