// sortPairs: the scalar reference is a stable LSD radix sort with 8-bit digits over packed
// (key, value) pairs (at most 4 passes; a pass whose digit is the same for every key is skipped);
// histograms and scatter run on oneTBB threads over fixed chunks, so the result does not depend on
// the thread count. The SIMD level packs (key << 32 | value) and sorts with Highway's VQSort, one slice per
// thread, then merges the slices.
#include "SimdKernels.h"

#include <mx/core/SortedRuns.h>
#include <mx/cpu/Algorithms.h>

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <bit>
#include <memory>
#include <span>
#include <vector>

namespace mx::cpu {
namespace {

constexpr size_t kChunk = 1 << 16;

constexpr int kDigitBits = 8; // 256 output streams per pass: write-combining and TLB friendly
constexpr size_t kBuckets = size_t(1) << kDigitBits;
constexpr int kPasses = (32 + kDigitBits - 1) / kDigitBits;

void radixSortPairs(std::span<uint32_t> keys, std::span<uint32_t> values) {
  const size_t n = keys.size();
  if (n < 2) return;
  const size_t chunks = (n + kChunk - 1) / kChunk;
  // Keys and values travel together as one u64 (key high), so each pass scatters one stream per
  // bucket; the OR/AND of all keys tells which digits vary at all (a pass whose digit is the
  // same for every key moves nothing and is skipped).
  std::vector<uint64_t> a(n), b(n);
  std::vector<std::array<uint32_t, 2>> ranges(chunks);
  tbb::parallel_for(size_t(0), chunks, [&](size_t c) {
    uint32_t any = 0, all = ~0u;
    const size_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
    for (size_t i = lo; i < hi; ++i) {
      any |= keys[i];
      all &= keys[i];
      a[i] = uint64_t(keys[i]) << 32 | values[i];
    }
    ranges[c] = {any, all};
  });
  uint32_t any = 0, all = ~0u;
  for (const auto& r : ranges) {
    any |= r[0];
    all &= r[1];
  }
  const uint32_t varying = any & ~all;

  uint64_t* src = a.data();
  uint64_t* dst = b.data();
  std::vector<std::array<uint32_t, kBuckets>> hist(chunks);
  for (int p = 0; p < kPasses; ++p) {
    const int shift = 32 + p * kDigitBits;
    if (((varying >> (p * kDigitBits)) & (kBuckets - 1)) == 0) continue;
    // Per-chunk histograms of the current order, then an exclusive prefix in (digit, chunk)
    // order: each chunk's stable output offsets.
    tbb::parallel_for(size_t(0), chunks, [&](size_t c) {
      auto& h = hist[c];
      h.fill(0);
      const size_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
      for (size_t i = lo; i < hi; ++i) ++h[(src[i] >> shift) & (kBuckets - 1)];
    });
    uint32_t sum = 0;
    for (size_t d = 0; d < kBuckets; ++d)
      for (size_t c = 0; c < chunks; ++c) {
        const uint32_t count = hist[c][d];
        hist[c][d] = sum;
        sum += count;
      }
    tbb::parallel_for(size_t(0), chunks, [&](size_t c) {
      auto& o = hist[c];
      const size_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
      for (size_t i = lo; i < hi; ++i) {
        const uint64_t x = src[i];
        dst[o[(x >> shift) & (kBuckets - 1)]++] = x;
      }
    });
    std::swap(src, dst);
  }
  core::unpackPairs({src, n}, keys, values);
}

/// Sorts the distinct packed (key << 32 | value) words and writes them back split into `keys` and
/// `values`: VQSort on one slice per thread (slices of at least 1 M words), then mergeSortedRuns.
/// The order is the sorted order, whatever the thread count.
void sortPackedInto(std::span<uint64_t> packed, std::span<uint32_t> keys, std::span<uint32_t> values) {
  const size_t n = packed.size();
  const size_t threads = size_t(std::max(1, tbb::this_task_arena::max_concurrency()));
  const size_t slices = std::bit_floor(std::clamp<size_t>(n >> 20, 1, threads));
  std::vector<size_t> bounds(slices + 1);
  for (size_t s = 0; s <= slices; ++s) bounds[s] = n * s / slices;
  tbb::parallel_for(size_t(0), slices,
                    [&](size_t s) { simd::sortU64(packed.data() + bounds[s], bounds[s + 1] - bounds[s]); });
  core::mergeSortedRuns(packed, bounds, keys, values);
}

} // namespace

namespace {

void vqsortPairs(std::span<uint32_t> keys, std::span<uint32_t> values) {
  const size_t n = keys.size();
  if (n < 2) return;
  // Not value-initialised: the parallel packing loop is the first to touch these pages.
  std::unique_ptr<uint64_t[]> packed(new uint64_t[n]);
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, kChunk), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i < r.end(); ++i) packed[i] = (uint64_t(keys[i]) << 32) | values[i];
  });
  sortPackedInto({packed.get(), n}, keys, values);
}

} // namespace

void sortPairs(CpuLevel level, std::span<uint32_t> keys, std::span<uint32_t> values) {
  if (level == CpuLevel::Simd)
    vqsortPairs(keys, values);
  else
    radixSortPairs(keys, values);
}

} // namespace mx::cpu
