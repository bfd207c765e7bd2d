// Which instruction set the forward-pass kernels use: detected once at run time, so one binary is
// both portable (the scalar level runs anywhere) and fast (AVX2 where the CPU has it). Every
// level computes the same bits; tests force each level the machine supports in turn.
#pragma once

#include <optional>
#include <vector>

namespace qrepair::kernels {

enum class CpuLevel {
  kScalar,  // portable C++ (the compiler's baseline vectorization)
  kAvx2,    // x86-64 AVX2: vpmaddwd for integer codes, 8-wide float multiply and add
};

const char* CpuLevelName(CpuLevel level);
// The best level this build and this CPU support.
CpuLevel DetectedCpuLevel();
// Every level this build and this CPU support, lowest first.
std::vector<CpuLevel> SupportedCpuLevels();
// The level the kernels use now: the forced one, else the detected one.
CpuLevel ActiveCpuLevel();
// For tests and benchmarks: run the kernels at `level` (nullopt: back to the detected level).
// Throws InternalError for a level the machine does not support. Not thread-safe: call it
// between passes, not during one.
void ForceCpuLevel(std::optional<CpuLevel> level);

}  // namespace qrepair::kernels
