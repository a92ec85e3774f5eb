// sortPairs: the scalar reference is a stable LSD radix sort with 8-bit digits (passes whose
// digit is the same for every key are skipped, so 30-bit Morton codes cost 4 passes at most);
// histograms and scatter run on oneTBB threads over fixed chunks, so the result does not depend on
// the thread count. The SIMD level packs (key << 32 | value) and sorts with Highway's VQSort.
#include "SimdKernels.h"

#include <mx/cpu/Algorithms.h>

#include <tbb/parallel_for.h>

#include <array>
#include <vector>

namespace mx::cpu {
namespace {

constexpr size_t kChunk = 1 << 16;

void radixSortPairs(std::span<uint32_t> keys, std::span<uint32_t> values) {
  const size_t n = keys.size();
  if (n < 2) return;
  std::vector<uint32_t> tmpKeys(n), tmpValues(n);
  uint32_t* srcK = keys.data();
  uint32_t* srcV = values.data();
  uint32_t* dstK = tmpKeys.data();
  uint32_t* dstV = tmpValues.data();
  const size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<std::array<size_t, 256>> hist(chunks);

  for (int shift = 0; shift < 32; shift += 8) {
    tbb::parallel_for(size_t(0), chunks, [&](size_t c) {
      auto& h = hist[c];
      h.fill(0);
      const size_t b = c * kChunk, e = std::min(n, b + kChunk);
      for (size_t i = b; i < e; ++i) ++h[(srcK[i] >> shift) & 0xFF];
    });
    // Skip a pass in which every key has the same digit: it would not move anything.
    bool trivial = false;
    for (int digit = 0; digit < 256; ++digit) {
      size_t total = 0;
      for (size_t c = 0; c < chunks; ++c) total += hist[c][digit];
      if (total == n) { trivial = true; break; }
      if (total != 0) break;
    }
    if (trivial) continue;
    // Exclusive prefix in (digit, chunk) order gives each chunk its stable output offsets.
    size_t sum = 0;
    for (int digit = 0; digit < 256; ++digit)
      for (size_t c = 0; c < chunks; ++c) {
        size_t count = hist[c][digit];
        hist[c][digit] = sum;
        sum += count;
      }
    tbb::parallel_for(size_t(0), chunks, [&](size_t c) {
      auto offsets = hist[c];
      const size_t b = c * kChunk, e = std::min(n, b + kChunk);
      for (size_t i = b; i < e; ++i) {
        size_t o = offsets[(srcK[i] >> shift) & 0xFF]++;
        dstK[o] = srcK[i];
        dstV[o] = srcV[i];
      }
    });
    std::swap(srcK, dstK);
    std::swap(srcV, dstV);
  }
  if (srcK != keys.data()) {
    std::copy(srcK, srcK + n, keys.data());
    std::copy(srcV, srcV + n, values.data());
  }
}

void vqsortPairs(std::span<uint32_t> keys, std::span<uint32_t> values) {
  const size_t n = keys.size();
  if (n < 2) return;
  std::vector<uint64_t> packed(n);
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, kChunk), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i < r.end(); ++i) packed[i] = (uint64_t(keys[i]) << 32) | values[i];
  });
  simd::sortU64(packed.data(), n);
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, kChunk), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i < r.end(); ++i) {
      keys[i] = uint32_t(packed[i] >> 32);
      values[i] = uint32_t(packed[i]);
    }
  });
}

} // namespace

void sortPairs(CpuLevel level, std::span<uint32_t> keys, std::span<uint32_t> values) {
  if (level == CpuLevel::Simd)
    vqsortPairs(keys, values);
  else
    radixSortPairs(keys, values);
}

} // namespace mx::cpu
