#pragma once
// Device twins of cpu/src/ScalarKernels.h: the same float operations in the same order (the
// backend is compiled with -fmad=false so nothing is contracted into an FMA), so grid
// coordinates, Morton codes and quantized values are bit-identical to the CPU reference.
#include <cstdint>

namespace mx::cuda::detail {

__device__ __forceinline__ uint32_t gridCoord(float v, float origin, float scale, float maxCoord) {
  float f = floorf((v - origin) * scale);
  f = fminf(fmaxf(f, 0.0f), maxCoord);
  return static_cast<uint32_t>(static_cast<int32_t>(f));
}

__device__ __forceinline__ uint32_t expandBits10(uint32_t v) {
  v = (v | (v << 16)) & 0x030000FFu;
  v = (v | (v << 8)) & 0x0300F00Fu;
  v = (v | (v << 4)) & 0x030C30C3u;
  v = (v | (v << 2)) & 0x09249249u;
  return v;
}

__device__ __forceinline__ uint32_t morton3(uint32_t x, uint32_t y, uint32_t z) {
  return (expandBits10(x) << 2) | (expandBits10(y) << 1) | expandBits10(z);
}

__device__ __forceinline__ uint16_t quantizeUnorm16(float v, float origin, float inv) {
  float f = (v - origin) * inv;
  f = fminf(fmaxf(f, 0.0f), 65535.0f);
  return static_cast<uint16_t>(static_cast<int32_t>(rintf(f)));
}

__device__ __forceinline__ int8_t quantizeSnorm8(float v) {
  float f = v * 127.0f;
  f = fminf(fmaxf(f, -127.0f), 127.0f);
  return static_cast<int8_t>(static_cast<int32_t>(rintf(f)));
}

} // namespace mx::cuda::detail
