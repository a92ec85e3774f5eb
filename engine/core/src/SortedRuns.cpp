#include <mx/core/SortedRuns.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <vector>

namespace mx::core {

namespace {

constexpr size_t kChunk = 1 << 16;

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

} // namespace

void unpackPairs(std::span<const uint64_t> packed, std::span<uint32_t> keys, std::span<uint32_t> values) {
  tbb::parallel_for(tbb::blocked_range<size_t>(0, packed.size(), kChunk), [&](const tbb::blocked_range<size_t>& r) {
    for (size_t i = r.begin(); i < r.end(); ++i) {
      keys[i] = uint32_t(packed[i] >> 32);
      values[i] = uint32_t(packed[i]);
    }
  });
}

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
      const size_t lo = bounds[2 * pair], mid = bounds[std::min(2 * pair + 1, runs)],
                   hi = bounds[std::min(2 * pair + 2, runs)];
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
  parallelMerge(src.first(mid), src.subspan(mid), 8,
                [&](std::span<const uint64_t> a, std::span<const uint64_t> b, size_t at) {
                  size_t i = 0, j = 0, o = at;
                  auto put = [&](uint64_t x) {
                    keys[o] = uint32_t(x >> 32);
                    values[o] = uint32_t(x);
                    ++o;
                  };
                  while (i < a.size() && j < b.size()) put(b[j] < a[i] ? b[j++] : a[i++]);
                  while (i < a.size()) put(a[i++]);
                  while (j < b.size()) put(b[j++]);
                });
}

} // namespace mx::core
