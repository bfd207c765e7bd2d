// Merging shard summaries: same manifest, every job exactly once.
#include "qrepair/batch/batch_merge.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/json_file.h"

namespace qrepair {

using nlohmann::json;

namespace {

json ReadJson(const std::string& path) {
  return ReadJsonFile(path, "cannot open (is this a `qrepair batch --out-dir` folder?)");
}

}  // namespace

MergedBatch MergeBatchSummaries(const std::vector<std::string>& dirs) {
  if (dirs.empty()) throw Error(ExitCode::kUsage, "batch-merge: no folders given");
  MergedBatch merged;
  std::map<std::string, std::string> where;  // job name -> folder it came from
  std::string first_meta;
  for (const std::string& dir : dirs) {
    std::string meta_path = dir + "/batch.json", summary_path = dir + "/summary.json";
    BatchMeta meta = MetaFromJson(ReadJson(meta_path), meta_path);
    if (first_meta.empty()) {
      merged.meta = meta;
      merged.meta.shard = Shard{};
      merged.meta.jobs_run = merged.meta.jobs_resumed = 0;
      first_meta = meta_path;
    } else if (meta.manifest_sha256 != merged.meta.manifest_sha256 ||
               meta.all_jobs != merged.meta.all_jobs) {
      throw BadInput(meta_path, "$.manifest_sha256",
                     "comes from another manifest (" + meta.manifest + ", sha256 " +
                         meta.manifest_sha256.substr(0, 12) + ") than " + first_meta + " (" +
                         merged.meta.manifest + ", sha256 " +
                         merged.meta.manifest_sha256.substr(0, 12) + ")");
    }
    merged.meta.jobs_run += meta.jobs_run;
    merged.meta.jobs_resumed += meta.jobs_resumed;
    merged.meta.merged_from.push_back(dir);

    json summary = ReadJson(summary_path);
    if (!summary.is_array()) throw BadInput(summary_path, "$", "expected a JSON array of jobs");
    for (size_t i = 0; i < summary.size(); ++i) {
      std::string at = "$[" + std::to_string(i) + "]";
      BatchEntry e = EntryFromJson(summary[i], summary_path, at);
      if (!std::binary_search(merged.meta.all_jobs.begin(), merged.meta.all_jobs.end(), e.name)) {
        throw BadInput(summary_path, at + ".name",
                       "job '" + e.name + "' is not in the manifest's job list");
      }
      auto [it, fresh] = where.emplace(e.name, dir);
      if (!fresh) {
        throw BadInput(
            summary_path, at + ".name",
            "job '" + e.name + "' appears twice: also in " + it->second + "/summary.json");
      }
      merged.entries.push_back(std::move(e));
    }
  }
  for (const std::string& name : merged.meta.all_jobs) {
    if (!where.count(name)) {
      throw BadInput(dirs.front(), "",
                     "job '" + name + "' of the manifest is in none of the " +
                         std::to_string(dirs.size()) +
                         " summaries (a shard is missing or was stopped; re-run it with --resume)");
    }
  }
  std::sort(merged.entries.begin(), merged.entries.end(),
            [](const BatchEntry& a, const BatchEntry& b) { return a.name < b.name; });
  return merged;
}

}  // namespace qrepair
