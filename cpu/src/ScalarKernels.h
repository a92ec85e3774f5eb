#pragma once
// Scalar formulas shared by the reference path and the SIMD tails, so both give identical bits.
// Operation order matters: (v - origin) * scale, then floor/clamp, exactly as the SIMD code does.
#include <cmath>
#include <cstdint>

namespace mx::cpu::detail {

inline uint32_t gridCoord(float v, float origin, float scale, float maxCoord) {
  float f = std::floor((v - origin) * scale);
  f = std::fmin(std::fmax(f, 0.0f), maxCoord);
  return static_cast<uint32_t>(static_cast<int32_t>(f));
}

/// Spreads the low 10 bits of v so that bit i lands at bit 3i.
inline uint32_t expandBits10(uint32_t v) {
  v = (v | (v << 16)) & 0x030000FFu;
  v = (v | (v << 8)) & 0x0300F00Fu;
  v = (v | (v << 4)) & 0x030C30C3u;
  v = (v | (v << 2)) & 0x09249249u;
  return v;
}

inline uint32_t morton3(uint32_t x, uint32_t y, uint32_t z) {
  return (expandBits10(x) << 2) | (expandBits10(y) << 1) | expandBits10(z);
}

/// A grid cell's key: its Morton code, so cells close in space get close keys (and close hash
/// slots in the clustering table, which keeps its probes in cache).
inline uint32_t packCell(uint32_t x, uint32_t y, uint32_t z) { return morton3(x, y, z); }

inline uint16_t quantizeUnorm16(float v, float origin, float inv) {
  float f = (v - origin) * inv;
  f = std::fmin(std::fmax(f, 0.0f), 65535.0f);
  return static_cast<uint16_t>(static_cast<int32_t>(std::nearbyint(f)));
}

inline int8_t quantizeSnorm8(float v) {
  float f = v * 127.0f;
  f = std::fmin(std::fmax(f, -127.0f), 127.0f);
  return static_cast<int8_t>(static_cast<int32_t>(std::nearbyint(f)));
}

} // namespace mx::cpu::detail
