#include <mx/cpu/CpuLevel.h>

#include <hwy/highway.h>
#include <hwy/targets.h>

#include <cstdlib>

namespace mx::cpu {

std::string_view toString(CpuLevel level) noexcept { return level == CpuLevel::Scalar ? "scalar" : "simd"; }

std::optional<CpuLevel> parseCpuLevel(std::string_view text) noexcept {
  if (text == "scalar") return CpuLevel::Scalar;
  if (text == "simd") return CpuLevel::Simd;
  return std::nullopt;
}

CpuLevel defaultCpuLevel() noexcept {
  if (const char* env = std::getenv("MESHEXPORT_CPU_LEVEL")) {
    if (auto level = parseCpuLevel(env)) return *level;
  }
  return CpuLevel::Simd;
}

std::string simdTargetName() {
  // Highway orders targets so that the best has the lowest bit; dynamic dispatch picks the best
  // target that is both compiled in and supported by this CPU.
  const int64_t bits = static_cast<int64_t>(hwy::SupportedTargets()) & HWY_TARGETS;
  if (bits == 0) return "none";
  return hwy::TargetName(bits & -bits);
}

std::string simdTargetList() {
  std::string out;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    if (!out.empty()) out += ",";
    out += hwy::TargetName(target);
  }
  return out;
}

} // namespace mx::cpu
