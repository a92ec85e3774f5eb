#pragma once
// The float formulas every backend shares: grid coordinates, Morton codes and quantization. The
// CPU's scalar reference, its SIMD loop tails and the CUDA kernels all call these, so their results
// are bit-identical. Operation order matters: (v - origin) * scale, then floor and clamp. The CUDA
// backend is compiled with -fmad=false so nothing is contracted into an FMA.
#include <mx/core/HostDevice.h>

#include <cstdint>
#include <math.h>

namespace mx::core {

/// Cell coordinate of `v` on a grid starting at `origin` with `scale` cells per unit, clamped to
/// 0..maxCoord.
MX_HOST_DEVICE uint32_t gridCoord(float v, float origin, float scale, float maxCoord) {
  float f = floorf((v - origin) * scale);
  f = fminf(fmaxf(f, 0.0f), maxCoord);
  return static_cast<uint32_t>(static_cast<int32_t>(f));
}

/// Spreads the low 10 bits of v so that bit i lands at bit 3i.
MX_HOST_DEVICE uint32_t expandBits10(uint32_t v) {
  v = (v | (v << 16)) & 0x030000FFu;
  v = (v | (v << 8)) & 0x0300F00Fu;
  v = (v | (v << 4)) & 0x030C30C3u;
  v = (v | (v << 2)) & 0x09249249u;
  return v;
}

/// 30-bit Morton code of 10-bit cell coordinates (x highest).
MX_HOST_DEVICE uint32_t morton3(uint32_t x, uint32_t y, uint32_t z) {
  return (expandBits10(x) << 2) | (expandBits10(y) << 1) | expandBits10(z);
}

/// A clustering cell's key: its Morton code, so cells close in space get close keys (and close
/// hash slots in the clustering table, which keeps its probes in cache).
MX_HOST_DEVICE uint32_t packCell(uint32_t x, uint32_t y, uint32_t z) { return morton3(x, y, z); }

/// Position component → uint16 in the box (round to nearest even, clamped).
MX_HOST_DEVICE uint16_t quantizeUnorm16(float v, float origin, float inv) {
  float f = (v - origin) * inv;
  f = fminf(fmaxf(f, 0.0f), 65535.0f);
  return static_cast<uint16_t>(static_cast<int32_t>(nearbyintf(f)));
}

/// Normal component → snorm8 (round to nearest even, clamped to ±127).
MX_HOST_DEVICE int8_t quantizeSnorm8(float v) {
  float f = v * 127.0f;
  f = fminf(fmaxf(f, -127.0f), 127.0f);
  return static_cast<int8_t>(static_cast<int32_t>(nearbyintf(f)));
}

} // namespace mx::core
