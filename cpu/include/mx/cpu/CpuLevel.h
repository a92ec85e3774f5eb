#pragma once
// Which CPU code path runs: the scalar reference or Highway's best SIMD target for this CPU.
#include <optional>
#include <string>
#include <string_view>

namespace mx::cpu {

enum class CpuLevel { Scalar, Simd };

std::string_view toString(CpuLevel level) noexcept;
/// Parses "scalar" or "simd".
std::optional<CpuLevel> parseCpuLevel(std::string_view text) noexcept;

/// The level to use when nobody asked: MESHEXPORT_CPU_LEVEL=scalar|simd when set, else Simd.
CpuLevel defaultCpuLevel() noexcept;

/// Highway's name for the SIMD target that HWY_DYNAMIC_DISPATCH picks here ("AVX3", "AVX2", …).
std::string simdTargetName();

/// Every SIMD target compiled into this binary and supported by this CPU, best first.
std::string simdTargetList();

} // namespace mx::cpu
