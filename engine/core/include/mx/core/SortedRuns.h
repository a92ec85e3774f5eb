#pragma once
// Host-side merging of sorted runs, shared by the CPU backend (its SIMD sort sorts one slice per
// thread) and the CUDA backend (which sorts chunk by chunk on the device). oneTBB threads; the
// result does not depend on the thread count.
#include <cstddef>
#include <cstdint>
#include <span>

namespace mx::core {

/// Splits packed (key << 32 | value) words into keys and values.
void unpackPairs(std::span<const uint64_t> packed, std::span<uint32_t> keys, std::span<uint32_t> values);

/// Merges the sorted runs packed[runBounds[r], runBounds[r + 1]) of distinct words into one sorted
/// sequence and writes it split: keys[i] = word >> 32, values[i] = low 32 bits. `runBounds` starts
/// at 0, ends at packed.size() and never decreases (empty runs are allowed); `packed` is
/// clobbered. Pairwise parallel merges.
void mergeSortedRuns(std::span<uint64_t> packed, std::span<const size_t> runBounds, std::span<uint32_t> keys,
                     std::span<uint32_t> values);

} // namespace mx::core
