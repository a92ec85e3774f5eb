#pragma once
// Constants of the b3dm container shared by the writer and the validator.
#include <cstddef>
#include <cstdint>

namespace mx::io::b3dm {

inline constexpr uint32_t kMagic = 0x6D643362; // "b3dm"
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 28;

} // namespace mx::io::b3dm
