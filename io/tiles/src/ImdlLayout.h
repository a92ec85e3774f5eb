#pragma once
// Constants and the two formulas the iMdl writer and checker share.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace mx::io::imdl {

inline constexpr uint32_t kMagic = 0x6c644d69;     // "iMdl"
inline constexpr uint32_t kGltfMagic = 0x46546c67; // "glTF"
inline constexpr uint32_t kHeaderLength = 88;
inline constexpr uint32_t kGltfHeaderLength = 20;
inline constexpr uint32_t kFlagMultiModelFeatureTable = 16;

/// Lookup-texture size for nRgba texels: one row when it fits, else a near-square whose width is a
/// multiple of rgbaPerVertex (a vertex never straddles two rows).
inline void tableDimensions(uint64_t nRgba, uint32_t rgbaPerVertex, uint32_t maxDim, uint32_t& width,
                            uint32_t& height) {
  if (nRgba <= maxDim) {
    width = uint32_t(std::max<uint64_t>(nRgba, 1));
    height = 1;
    return;
  }
  uint64_t w = uint64_t(std::ceil(std::sqrt(double(nRgba))));
  w = (w + rgbaPerVertex - 1) / rgbaPerVertex * rgbaPerVertex;
  width = uint32_t(w);
  height = uint32_t((nRgba + w - 1) / w);
}

/// iTwin.js OctEncodedNormal: (byteY << 8) | byteX.
inline uint16_t octEncode(double x, double y, double z) {
  const double s = std::abs(x) + std::abs(y) + std::abs(z);
  if (s <= 0) return uint16_t((128 << 8) | 128);
  double px = x / s, py = y / s;
  if (z < 0) {
    const double ox = px, oy = py;
    px = (1 - std::abs(oy)) * (ox >= 0 ? 1 : -1);
    py = (1 - std::abs(ox)) * (oy >= 0 ? 1 : -1);
  }
  auto toByte = [](double c) { return uint32_t(std::trunc(0.5 + (std::clamp(c, -1.0, 1.0) * 0.5 + 0.5) * 255)); };
  return uint16_t((toByte(py) << 8) | toByte(px));
}

} // namespace mx::io::imdl
