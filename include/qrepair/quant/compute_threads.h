// How many threads the batched forward passes use (eval, rank, the repair loop's checks). Any
// count computes the same bits: work is split by samples, and each sample's arithmetic is fixed.
#pragma once

namespace qrepair {

// 0 (the default): every core the machine reports. Negative counts are treated as 1.
void SetComputeThreads(int threads);
// The resolved count, at least 1.
int ComputeThreads();

}  // namespace qrepair
