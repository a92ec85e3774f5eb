#pragma once
// Constants of the glb container shared by the writer and the validator.
#include <cstdint>

namespace mx::io::glb {

inline constexpr uint32_t kMagic = 0x46546C67; // "glTF"
inline constexpr uint32_t kVersion = 2;
inline constexpr uint32_t kChunkJson = 0x4E4F534A; // "JSON"
inline constexpr uint32_t kChunkBin = 0x004E4942;  // "BIN\0"
inline constexpr int kArrayBuffer = 34962;
inline constexpr int kElementArrayBuffer = 34963;
inline constexpr int kByte = 5120, kUnsignedByte = 5121, kShort = 5122, kUnsignedShort = 5123, kUnsignedInt = 5125,
                     kFloat = 5126;

/// glTF y-up → 3D Tiles z-up, column-major: (x, y, z) → (x, -z, y).
inline constexpr double kYUpToZUp[16] = {1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1};

} // namespace mx::io::glb
