#pragma once
// Highway SIMD kernels (runtime dispatch to the best target compiled in and supported here).
#include <cstddef>
#include <cstdint>

namespace mx::cpu::simd {

void boundsSoA(const float* x, const float* y, const float* z, size_t n, float out[6]);
void mortonCodes(const float* x, const float* y, const float* z, size_t n, const float origin[3], const float scale[3],
                 uint32_t* codes);
void cellCodes(const float* xyz, size_t n, const float origin[3], float invCell, uint32_t* codes);
void quantizePositions(const float* xyz, size_t n, const float origin[3], const float inv[3], uint16_t* out4);
void quantizeNormals(const float* xyz, size_t n, int8_t* out4);
/// Sorts u64 ascending with Highway's VQSort.
void sortU64(uint64_t* keys, size_t n);

} // namespace mx::cpu::simd
