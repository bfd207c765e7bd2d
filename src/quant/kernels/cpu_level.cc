// Run-time CPU detection for the kernels (GCC/Clang's __builtin_cpu_supports on x86-64, which
// also checks that the OS saves the AVX registers).
#include "quant/kernels/cpu_level.h"

#include "qrepair/error.h"

namespace qrepair::kernels {

namespace {
std::optional<CpuLevel> forced_level;
}  // namespace

const char* CpuLevelName(CpuLevel level) {
  switch (level) {
    case CpuLevel::kScalar:
      return "scalar";
    case CpuLevel::kAvx2:
      return "avx2";
  }
  return "?";
}

CpuLevel DetectedCpuLevel() {
#if defined(QREPAIR_HAVE_AVX2_KERNELS)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return CpuLevel::kAvx2;
#endif
  return CpuLevel::kScalar;
}

std::vector<CpuLevel> SupportedCpuLevels() {
  std::vector<CpuLevel> levels{CpuLevel::kScalar};
  if (DetectedCpuLevel() == CpuLevel::kAvx2) levels.push_back(CpuLevel::kAvx2);
  return levels;
}

CpuLevel ActiveCpuLevel() { return forced_level ? *forced_level : DetectedCpuLevel(); }

void ForceCpuLevel(std::optional<CpuLevel> level) {
  if (level && static_cast<int>(*level) > static_cast<int>(DetectedCpuLevel())) {
    throw InternalError(std::string("kernel level ") + CpuLevelName(*level) +
                        " is not supported on this machine");
  }
  forced_level = level;
}

}  // namespace qrepair::kernels
