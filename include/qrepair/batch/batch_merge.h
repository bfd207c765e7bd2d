// `qrepair batch-merge`: joins the summaries of a manifest's shards (each run with --shard I/N,
// possibly on different machines) into one summary, refusing anything that does not add up.
#pragma once

#include <string>
#include <vector>

#include "qrepair/batch/batch_summary.h"

namespace qrepair {

struct MergedBatch {
  BatchMeta meta;                   // shard 1/1, merged_from = the folders
  std::vector<BatchEntry> entries;  // sorted by name
};

// Reads DIR/batch.json and DIR/summary.json of each folder. Throws BadInput when a file is
// missing or malformed, when the folders come from different manifests (sha256), when a job
// appears in two folders, or when a job of the manifest appears in none (a shard is missing).
MergedBatch MergeBatchSummaries(const std::vector<std::string>& dirs);

}  // namespace qrepair
