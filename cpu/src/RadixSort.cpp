// sortPairs: the scalar reference is a stable LSD radix sort with 8-bit digits over packed
// (key, value) pairs (at most 4 passes; a pass whose digit is the same for every key is skipped);
// histograms and scatter run on oneTBB threads over fixed chunks, so the result does not depend on
// the thread count. The SIMD level packs (key << 32 | value) and sorts with Highway's VQSort, one slice per
// thread, then merges the slices.
#include "SimdKernels.h"

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

/// Splits packed (key << 32 | value) words into keys and values, on oneTBB threads.
void unpackPairs(std::span<const uint64_t> packed, std::span<uint32_t> keys, std::span<uint32_t> values) {
  tbb::parallel_for(tbb::blocked_range<size_t>(0, packed.size(), kChunk), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i < r.end(); ++i) {
      keys[i] = uint32_t(packed[i] >> 32);
      values[i] = uint32_t(packed[i]);
    }
  });
}

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
  for (const auto& r : ranges) { any |= r[0]; all &= r[1]; }
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
  unpackPairs({src, n}, keys, values);
}

/// Merges sorted `a` and `b` (no equal elements across them) in `parts` pieces that run in
/// parallel: each piece takes a slice of `a` and the part of `b` below its end, and hands its
/// output range [first, …) to `mergeInto(a range, b range, first)`.
template <typename MergeInto>
void parallelMerge(std::span<const uint64_t> a, std::span<const uint64_t> b, size_t parts, MergeInto&& mergeInto) {
  tbb::parallel_for(size_t(0), parts, [&](size_t k) {
    const size_t a0 = a.size() * k / parts, a1 = a.size() * (k + 1) / parts;
    const size_t b0 = k == 0 ? 0 : size_t(std::lower_bound(b.begin(), b.end(), a[a0]) - b.begin());
    const size_t b1 = k + 1 == parts ? b.size() : size_t(std::lower_bound(b.begin(), b.end(), a[a1]) - b.begin());
    mergeInto(a.subspan(a0, a1 - a0), b.subspan(b0, b1 - b0), a0 + b0);
  });
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
  tbb::parallel_for(size_t(0), slices, [&](size_t s) { simd::sortU64(packed.data() + bounds[s], bounds[s + 1] - bounds[s]); });
  mergeSortedRuns(packed, bounds, keys, values);
}

} // namespace

void mergeSortedRuns(std::span<uint64_t> packed, std::span<const size_t> runBounds, std::span<uint32_t> keys,
                     std::span<uint32_t> values) {
  const size_t n = packed.size();
  // Drop empty runs; one run (or none) needs no merge.
  std::vector<size_t> bounds{0};
  for (size_t r = 1; r < runBounds.size(); ++r)
    if (runBounds[r] > bounds.back()) bounds.push_back(runBounds[r]);
  if (bounds.size() <= 2) {
    unpackPairs(packed, keys, values);
    return;
  }
  // Rounds of pairwise parallel merges until two runs are left (an odd run out is copied across);
  // the last merge writes the split words directly, so two runs need no merge buffer at all.
  std::vector<uint64_t> other(bounds.size() > 3 ? n : 0);
  std::span<uint64_t> src = packed, dst = other;
  while (bounds.size() > 3) {
    const size_t runs = bounds.size() - 1;
    std::vector<size_t> next{0};
    tbb::parallel_for(size_t(0), (runs + 1) / 2, [&](size_t pair) {
      const size_t lo = bounds[2 * pair], mid = bounds[std::min(2 * pair + 1, runs)], hi = bounds[std::min(2 * pair + 2, runs)];
      if (mid == hi) {
        std::copy(src.begin() + std::ptrdiff_t(lo), src.begin() + std::ptrdiff_t(hi), dst.begin() + std::ptrdiff_t(lo));
        return;
      }
      parallelMerge(src.subspan(lo, mid - lo), src.subspan(mid, hi - mid), 8,
                    [&](std::span<const uint64_t> a, std::span<const uint64_t> b, size_t at) {
                      std::merge(a.begin(), a.end(), b.begin(), b.end(), dst.begin() + std::ptrdiff_t(lo + at));
                    });
    });
    for (size_t pair = 0; 2 * pair < runs; ++pair) next.push_back(bounds[std::min(2 * pair + 2, runs)]);
    bounds = std::move(next);
    std::swap(src, dst);
  }
  const size_t mid = bounds[1];
  parallelMerge(src.first(mid), src.subspan(mid), 8, [&](std::span<const uint64_t> a, std::span<const uint64_t> b, size_t at) {
    size_t i = 0, j = 0, o = at;
    auto put = [&](uint64_t x) { keys[o] = uint32_t(x >> 32); values[o] = uint32_t(x); ++o; };
    while (i < a.size() && j < b.size()) put(b[j] < a[i] ? b[j++] : a[i++]);
    while (i < a.size()) put(a[i++]);
    while (j < b.size()) put(b[j++]);
  });
}

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
