// The batch manifest, the shard partition, the resume key, the gates and the shard merge; no
// repair runs here (batch_e2e_test.cc runs real batches through the CLI).
#include "qrepair/batch/batch.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "qrepair/batch/batch_merge.h"
#include "qrepair/io/atomic_file.h"

namespace qrepair {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class Scratch {
 public:
  Scratch() {
    std::string pattern = ::testing::TempDir() + "/qrepair_batch_XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    path_ = fs::path(mkdtemp(buf.data())).lexically_normal().string();
  }
  ~Scratch() { fs::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& bytes) const {
    std::string p = path_ + "/" + name;
    fs::create_directories(fs::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

json Manifest() {
  return json::parse(R"({
    "defaults": {"config": "q.json", "data": "data/images.gz", "labels": "/abs/labels.gz",
                 "input_scale": 0.5, "repair_range": "0:100", "time_limit": 60, "neurons": 4},
    "jobs": [{"name": "b", "model": "models/b.onnx", "time_limit": 5, "labels": null},
             {"name": "a", "model": "../a.nnet", "holdout_range": "100:", "layers": ["fc1"]}]
  })");
}

std::string ErrorOf(const json& manifest) {
  try {
    ParseBatchManifest(manifest, "zoo.json", "/zoo");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    return e.what();
  }
  return "(no error)";
}

TEST(BatchManifestTest, DefaultsApplyAndJobsOverrideThem) {
  BatchManifest m = ParseBatchManifest(Manifest(), "zoo.json", "/zoo");
  ASSERT_EQ(m.jobs.size(), 2u);
  EXPECT_EQ(m.jobs[0].name, "a");  // sorted by name
  EXPECT_EQ(m.jobs[1].name, "b");
  RepairJobOptions a = ToRepairJobOptions(m.jobs[0]);
  RepairJobOptions b = ToRepairJobOptions(m.jobs[1]);
  EXPECT_EQ(a.limits.job_seconds, 60);
  EXPECT_EQ(b.limits.job_seconds, 5);
  EXPECT_EQ(a.repair.neurons, 4);
  EXPECT_EQ(a.repair.max_rounds, 8);  // the repair command's default
  EXPECT_EQ(a.repair.layers, std::vector<std::string>{"fc1"});
  EXPECT_EQ(a.repair.jobs, 1);  // each job single-threaded
  EXPECT_TRUE(a.has_holdout);
  EXPECT_EQ(a.holdout_range.begin, 100);
  EXPECT_EQ(a.holdout_range.end, -1);
  EXPECT_FALSE(b.has_holdout);
  EXPECT_EQ(a.data.input_scale, 0.5);
  EXPECT_EQ(a.data.labels_path, "/abs/labels.gz");
  EXPECT_EQ(b.data.labels_path, "");  // null in a job unsets a default
  EXPECT_EQ(a.echo["name"], "a");
}

TEST(BatchManifestTest, RelativePathsResolveAgainstTheManifestFolder) {
  BatchManifest m = ParseBatchManifest(Manifest(), "zoo.json", "/zoo");
  RepairJobOptions a = ToRepairJobOptions(m.jobs[0]);
  RepairJobOptions b = ToRepairJobOptions(m.jobs[1]);
  EXPECT_EQ(a.model, "/a.nnet");
  EXPECT_EQ(b.model, "/zoo/models/b.onnx");
  EXPECT_EQ(a.config, "/zoo/q.json");
  EXPECT_EQ(a.data.data_path, "/zoo/data/images.gz");
  // VNN-LIB properties (an array of paths) resolve the same way.
  json with_props = Manifest();
  with_props["defaults"]["property"] = {"props/p1.vnnlib", "/abs/p2.vnnlib"};
  const RepairJobOptions c =
      ToRepairJobOptions(ParseBatchManifest(with_props, "zoo.json", "/zoo").jobs[0]);
  EXPECT_EQ(c.properties, (std::vector<std::string>{"/zoo/props/p1.vnnlib", "/abs/p2.vnnlib"}));
}

TEST(BatchManifestTest, LoadResolvesAgainstTheFileFolderAndHashesTheBytes) {
  Scratch s;
  std::string path = s.Write("zoo/m.json", Manifest().dump());
  BatchManifest m = LoadBatchManifest(path);
  EXPECT_EQ(ToRepairJobOptions(m.jobs[1]).model, s.path() + "/zoo/models/b.onnx");
  EXPECT_EQ(m.sha256, Sha256(Manifest().dump()));
}

TEST(BatchManifestTest, UnknownKeysNameTheKeyAndItsPath) {
  json m = Manifest();
  m["jobs"][1]["time_limt"] = 3;
  std::string e = ErrorOf(m);
  EXPECT_NE(e.find("zoo.json: $.jobs[1].time_limt: unknown key 'time_limt'"), std::string::npos)
      << e;
  EXPECT_NE(e.find("did you mean 'time_limit'"), std::string::npos) << e;

  m = Manifest();
  m["defaults"]["repair-range"] = "0:10";
  e = ErrorOf(m);
  EXPECT_NE(e.find("$.defaults.repair-range"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'repair_range'"), std::string::npos) << e;

  m = Manifest();
  m["defaults"]["frobnicate"] = true;
  e = ErrorOf(m);
  EXPECT_NE(e.find("$.defaults.frobnicate: unknown key 'frobnicate'; expected one of: config"),
            std::string::npos)
      << e;

  m = Manifest();
  m["version"] = 2;
  EXPECT_NE(ErrorOf(m).find("$.version: unknown key"), std::string::npos);

  m = Manifest();
  m["defaults"]["jobs"] = 4;
  e = ErrorOf(m);
  EXPECT_NE(e.find("$.defaults.jobs: 'jobs' is not a per-job option"), std::string::npos) << e;
  m = Manifest();
  m["jobs"][0]["output"] = "x.json";
  EXPECT_NE(ErrorOf(m).find("$.jobs[0].output"), std::string::npos);
}

TEST(BatchManifestTest, TypeAndValueErrorsNameTheirPath) {
  json m = Manifest();
  m["defaults"]["time_limit"] = "60";
  std::string e = ErrorOf(m);
  EXPECT_NE(e.find("$.defaults.time_limit: expected a number, got \"60\""), std::string::npos) << e;

  m = Manifest();
  m["jobs"][0]["neurons"] = 2.5;
  EXPECT_NE(ErrorOf(m).find("$.jobs[0].neurons: expected an integer"), std::string::npos);
  m = Manifest();
  m["jobs"][0]["max_delta"] = 0;
  EXPECT_NE(ErrorOf(m).find("$.jobs[0].max_delta: 0 is out of range"), std::string::npos);
  m = Manifest();
  m["jobs"][1]["repair_range"] = "10:5";
  EXPECT_NE(ErrorOf(m).find("$.jobs[1].repair_range: expected \"A:B\""), std::string::npos);
  m = Manifest();
  m["jobs"][1]["encoding"] = "sat";
  EXPECT_NE(ErrorOf(m).find("$.jobs[1].encoding: unknown value 'sat'; expected one of: bv pb lia"),
            std::string::npos);
  m = Manifest();
  m["jobs"][1]["guard"] = true;
  EXPECT_NE(ErrorOf(m).find("$.jobs[1].guard: expected a string"), std::string::npos) << ErrorOf(m);
  m["jobs"][1]["guard"] = "shift";
  EXPECT_NE(
      ErrorOf(m).find("$.jobs[1].guard: unknown value 'shift'; expected one of: augment none"),
      std::string::npos)
      << ErrorOf(m);
  m = Manifest();
  m["jobs"][1]["rank_method"] = "tarantulla";
  EXPECT_NE(ErrorOf(m).find("$.jobs[1].rank_method: unknown value 'tarantulla'; expected one of: "
                            "tarantula ochiai"),
            std::string::npos)
      << ErrorOf(m);
  m["jobs"][1]["rank_method"] = "ochiai";
  EXPECT_EQ(ErrorOf(m), "(no error)");
  m["jobs"][1]["augment"] = "shift4";
  EXPECT_NE(ErrorOf(m).find("$.jobs[1].augment: augment: expected none, shift, shift8"),
            std::string::npos)
      << ErrorOf(m);
  m["jobs"][1]["augment"] = "shift8:28x28";
  EXPECT_EQ(ErrorOf(m), "(no error)");
  m = Manifest();
  m["jobs"][1]["layers"] = "fc1";
  EXPECT_NE(ErrorOf(m).find("$.jobs[1].layers: expected an array of strings"), std::string::npos);
  m = Manifest();
  m["jobs"] = json::object();
  EXPECT_NE(ErrorOf(m).find("$.jobs: expected a non-empty array"), std::string::npos);
  m = Manifest();
  m["jobs"][0].erase("model");
  EXPECT_NE(ErrorOf(m).find("$.jobs[0]: missing key \"model\""), std::string::npos);
  m = Manifest();
  m["defaults"].erase("data");
  EXPECT_NE(ErrorOf(m).find("$.jobs[0]: no \"data\""), std::string::npos);
  m = Manifest();
  m["defaults"]["model"] = "x.onnx";
  EXPECT_NE(ErrorOf(m).find("$.defaults.model: belongs in a job"), std::string::npos);
}

TEST(BatchManifestTest, JobNamesAreUniqueAndFolderSafe) {
  json m = Manifest();
  m["jobs"][1]["name"] = "b";
  std::string e = ErrorOf(m);
  EXPECT_NE(e.find("$.jobs[1].name: duplicate job name 'b' (also $.jobs[0].name)"),
            std::string::npos)
      << e;

  for (const char* bad : {"../up", "a/b", ".hidden", "", "summary.json", "has space"}) {
    m = Manifest();
    m["jobs"][0]["name"] = bad;
    EXPECT_NE(ErrorOf(m).find("$.jobs[0].name"), std::string::npos) << bad;
  }
  // Without a name, the model's file stem; two models with one stem collide.
  m = Manifest();
  m["jobs"][0].erase("name");
  m["jobs"][1].erase("name");
  m["jobs"][1]["model"] = "other/b.json";
  e = ErrorOf(m);
  EXPECT_NE(e.find("$.jobs[1].model: duplicate job name 'b' (also $.jobs[0].model)"),
            std::string::npos)
      << e;
}

TEST(BatchManifestTest, KeyOptionsIgnoreFileNamesAndSpelling) {
  json m1 = Manifest(), m2 = Manifest();
  m2["defaults"]["time_limit"] = 60.0;             // same value, other spelling
  m2["defaults"]["max_rounds"] = 8;                // the default, written out
  m2["defaults"]["data"] = "elsewhere/images.gz";  // another file name
  m2["defaults"]["repair_range"] = "0:100";
  BatchManifest a = ParseBatchManifest(m1, "m1", "/x");
  BatchManifest b = ParseBatchManifest(m2, "m2", "/y");
  EXPECT_EQ(JobKeyOptions(a.jobs[0]), JobKeyOptions(b.jobs[0]));
  m2["defaults"]["margin"] = 2;
  BatchManifest c = ParseBatchManifest(m2, "m2", "/y");
  EXPECT_NE(JobKeyOptions(a.jobs[0]), JobKeyOptions(c.jobs[0]));
}

TEST(BatchManifestTest, JobKeyFollowsBytesNotNames) {
  Scratch s;
  s.Write("one/model.onnx", "model bytes");
  s.Write("one/images", "image bytes");
  s.Write("two/renamed.onnx", "model bytes");
  s.Write("two/data", "image bytes");
  json m = {{"jobs", {{{"name", "j"}, {"model", "model.onnx"}, {"data", "images"}}}}};
  std::string key1 = JobKey(ParseBatchManifest(m, "m", s.path() + "/one").jobs[0]);
  m = {{"jobs", {{{"name", "j"}, {"model", "renamed.onnx"}, {"data", "data"}}}}};
  std::string key2 = JobKey(ParseBatchManifest(m, "m", s.path() + "/two").jobs[0]);
  EXPECT_EQ(key1, key2);
  s.Write("two/data", "other bytes");
  EXPECT_NE(key1, JobKey(ParseBatchManifest(m, "m", s.path() + "/two").jobs[0]));
  m = {{"jobs", {{{"name", "j"}, {"model", "absent.onnx"}, {"data", "data"}}}}};
  try {
    JobKey(ParseBatchManifest(m, "m", s.path() + "/two").jobs[0]);
    FAIL() << "no error for a missing model";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("absent.onnx"), std::string::npos);
  }
}

TEST(BatchManifestTest, AFolderOfModelsBecomesJobsByStem) {
  Scratch s;
  for (const char* f :
       {"zeta.onnx", "alpha.nnet", "mid.json", "q.json", "notes.txt", ".hidden.onnx"}) {
    s.Write(std::string("zoo/") + f, "x");
  }
  json options = {{"config", s.path() + "/zoo/q.json"}, {"data", "images.gz"}, {"time_limit", 5}};
  BatchManifest m = ManifestFromModelFolder(s.path() + "/zoo", options);
  ASSERT_EQ(m.jobs.size(), 3u);  // the config is not a model
  EXPECT_EQ(m.jobs[0].name, "alpha");
  EXPECT_EQ(m.jobs[1].name, "mid");
  EXPECT_EQ(m.jobs[2].name, "zeta");
  EXPECT_EQ(ToRepairJobOptions(m.jobs[2]).model, s.path() + "/zoo/zeta.onnx");
  EXPECT_EQ(ToRepairJobOptions(m.jobs[2]).limits.job_seconds, 5);
  EXPECT_EQ(ToRepairJobOptions(m.jobs[2]).data.data_path, "images.gz");  // relative to the cwd

  s.Write("zoo/zeta.json", "x");
  EXPECT_THROW(ManifestFromModelFolder(s.path() + "/zoo", options), Error);  // zeta twice
  try {
    ManifestFromModelFolder(s.path() + "/zoo", {{"data", "d"}, {"repair_range", "x"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_NE(std::string(e.what()).find("--repair-range"), std::string::npos) << e.what();
  }
}

TEST(BatchShardTest, ShardsPartitionTheJobList) {
  for (int n = 1; n <= 5; ++n) {
    for (size_t jobs = 0; jobs <= 13; ++jobs) {
      std::multiset<size_t> seen;
      for (int i = 1; i <= n; ++i) {
        for (size_t j = 0; j < jobs; ++j) {
          if (InShard(j, Shard{i, n})) seen.insert(j);
        }
      }
      ASSERT_EQ(seen.size(), jobs) << n << " shards, " << jobs << " jobs";
      for (size_t j = 0; j < jobs; ++j) ASSERT_EQ(seen.count(j), 1u);
    }
  }
}

TEST(BatchShardTest, ParsesIOfN) {
  Shard s = ParseShard("2/5");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  for (const char* bad : {"0/2", "3/2", "1/0", "1-2", "1/2x", "", "/2"}) {
    EXPECT_THROW(ParseShard(bad), Error) << bad;
  }
}

BatchEntry Finished(const std::string& name, double float_acc, double acc) {
  BatchEntry e;
  e.name = name;
  e.status = "repaired";
  json figures = {
      {"samples", 100}, {"agreement", 0.9}, {"accuracy", acc}, {"float_accuracy", float_acc}};
  e.before = {{"repair", figures}, {"holdout", figures}};
  e.after = e.before;
  return e;
}

TEST(BatchGateTest, FloorsAndDropsInPercent) {
  std::vector<BatchEntry> entries = {Finished("a", 0.98, 0.97), Finished("b", 0.98, 0.955)};
  EXPECT_TRUE(GateFailures(entries, {}).empty());
  EXPECT_TRUE(GateFailures(entries, {95.0, std::nullopt}).empty());
  std::vector<std::string> f = GateFailures(entries, {96.0, std::nullopt});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].find("b: repaired holdout accuracy 95.50 % is below --fail-under 96"),
            std::string::npos)
      << f[0];
  EXPECT_EQ(GateFailures(entries, {std::nullopt, 2.0}).size(), 1u);  // b drops 2.5 pp
  EXPECT_EQ(GateFailures(entries, {std::nullopt, 2.5}).size(), 0u);
  entries[0].after["holdout"]["accuracy"] = nullptr;  // no labels: cannot pass
  EXPECT_EQ(GateFailures(entries, {50.0, std::nullopt}).size(), 1u);
}

TEST(BatchGateTest, ExitCodePrecedence) {
  std::vector<BatchEntry> entries = {Finished("a", 0.98, 0.97)};
  EXPECT_EQ(BatchExitCode(entries, false, false), ExitCode::kSuccess);
  EXPECT_EQ(BatchExitCode(entries, false, true), ExitCode::kThresholdFailed);
  entries.push_back(Finished("b", 0.98, 0.97));
  entries[1].status = "bad_input";
  EXPECT_EQ(BatchExitCode(entries, false, true), ExitCode::kBatchPartial);
  EXPECT_EQ(BatchExitCode(entries, true, true), ExitCode::kInterrupted);
  entries[1].status = "limit_reached";  // finished: its best verified result was written
  EXPECT_EQ(BatchExitCode(entries, false, false), ExitCode::kSuccess);
}

BatchMeta Meta(int index, int count) {
  BatchMeta m;
  m.manifest = "zoo.json";
  m.manifest_sha256 = "abc";
  m.shard = {index, count};
  m.all_jobs = {"a", "b", "c"};
  m.jobs_run = 1;
  return m;
}

TEST(BatchMergeTest, ShardsMergeSortedAndRefuseDuplicatesAndStrangers) {
  Scratch s;
  for (const char* d : {"s1", "s2", "s3"}) fs::create_directories(s.path() + "/" + d);
  WriteBatchSummary(s.path() + "/s2", Meta(2, 2), {Finished("b", 0.9, 0.9)});
  WriteBatchSummary(s.path() + "/s1", Meta(1, 2),
                    {Finished("a", 0.9, 0.8), Finished("c", 0.9, 0.7)});
  MergedBatch m = MergeBatchSummaries({s.path() + "/s2", s.path() + "/s1"});
  ASSERT_EQ(m.entries.size(), 3u);
  EXPECT_EQ(m.entries[0].name, "a");
  EXPECT_EQ(m.entries[1].name, "b");
  EXPECT_EQ(m.entries[2].after, Finished("c", 0.9, 0.7).after);
  EXPECT_EQ(m.meta.jobs_run, 2);
  EXPECT_EQ(m.meta.shard.count, 1);

  EXPECT_THROW(MergeBatchSummaries({s.path() + "/s1", s.path() + "/s1", s.path() + "/s2"}),
               Error);                                           // twice
  EXPECT_THROW(MergeBatchSummaries({s.path() + "/s1"}), Error);  // b is missing
  BatchMeta other = Meta(2, 2);
  other.manifest_sha256 = "def";
  WriteBatchSummary(s.path() + "/s3", other, {Finished("b", 0.9, 0.9)});
  try {
    MergeBatchSummaries({s.path() + "/s1", s.path() + "/s3"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another manifest"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qrepair
