#pragma once
// How the CUDA backend cuts a call to fit a lane's share of the device budget. Plain C++ (no CUDA
// types), so the rules are tested on machines without a GPU (tests/cuda/ChunkPlanTest.cpp).
#include <cstddef>
#include <cstdint>

namespace mx::cuda {

/// `chunks` chunks of `chunk` items (the last may be shorter). chunk == 0: the input does not fit.
struct ChunkPlan {
  size_t chunk = 0;
  size_t chunks = 0;
  [[nodiscard]] size_t begin(size_t k) const { return k * chunk; }
  [[nodiscard]] size_t size(size_t k, size_t total) const {
    return (k + 1) * chunk < total ? chunk : total - k * chunk;
  }
};

/// Partition of `triangles` over `vertices`: positions stay on the device; one chunk (sorted on the
/// device whole) when everything fits, else chunks for two alternating slots, at least 65 536
/// triangles each unless `chunkItems` (a cap, 0 = none) asks for fewer.
ChunkPlan planPartition(size_t vertices, size_t triangles, uint64_t laneBudget, size_t chunkItems);

/// Quantization of `vertices`: one chunk up to 1 M vertices, else at least four (copies of one
/// overlap the kernel of another), fewer vertices each when the budget or `chunkItems` says so.
ChunkPlan planQuantize(size_t vertices, uint64_t laneBudget, size_t chunkItems);

/// Device bytes the plans reserve at most (the launchers' layouts plus CUB's temp storage).
uint64_t partitionBytes(size_t vertices, const ChunkPlan& plan);
uint64_t quantizeBytes(const ChunkPlan& plan);
/// Device bytes clustering needs; it is not chunked (its inputs are tiles).
uint64_t clusterBytes(size_t vertices, size_t triangles);

} // namespace mx::cuda
