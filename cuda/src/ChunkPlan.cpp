#include <mx/cuda/ChunkPlan.h>

#include <algorithm>

namespace mx::cuda {

namespace {
constexpr uint64_t kMiB = uint64_t(1) << 20;
constexpr size_t kMinChunk = size_t(1) << 16; // smaller chunks cost more in launches than they save
constexpr size_t kOverlapChunk = size_t(1) << 20;
// Device bytes per item of one chunk slot: the layouts in Partition.cu and Quantize.cu plus CUB's
// temp storage (a radix sort keeps its own copy of keys and values).
constexpr uint64_t kPartitionPerTriangle = 64, kPartitionFixed = 64 * kMiB;
constexpr uint64_t kQuantizePerVertex = 36, kQuantizeFixed = 16 * kMiB;

uint64_t slots(const ChunkPlan& plan) { return plan.chunks > 1 ? 2 : 1; }
} // namespace

ChunkPlan planPartition(size_t vertices, size_t triangles, uint64_t laneBudget, size_t chunkItems) {
  if (triangles == 0) return {1, 0};
  const uint64_t resident = 12 * uint64_t(vertices) + kPartitionFixed;
  if (resident >= laneBudget) return {};
  if ((chunkItems == 0 || chunkItems >= triangles) && resident + kPartitionPerTriangle * triangles <= laneBudget)
    return {triangles, 1}; // one chunk: sorted on the device whole, nothing to merge
  size_t chunk = size_t(std::min<uint64_t>((laneBudget - resident) / (2 * kPartitionPerTriangle), triangles));
  if (chunkItems) chunk = std::min(chunk, chunkItems);
  if (chunk == 0 || (chunkItems == 0 && chunk < std::min(triangles, kMinChunk))) return {};
  return {chunk, (triangles + chunk - 1) / chunk};
}

ChunkPlan planQuantize(size_t vertices, uint64_t laneBudget, size_t chunkItems) {
  if (vertices == 0) return {1, 0};
  if (kQuantizeFixed >= laneBudget) return {};
  size_t chunk = vertices > kOverlapChunk ? std::max(kOverlapChunk, (vertices + 3) / 4) : vertices;
  if (chunkItems) chunk = std::min(chunk, chunkItems);
  const uint64_t n = chunk < vertices ? 2 : 1;
  if (kQuantizeFixed + n * kQuantizePerVertex * chunk > laneBudget)
    chunk = size_t(std::min<uint64_t>((laneBudget - kQuantizeFixed) / (2 * kQuantizePerVertex), vertices));
  if (chunk == 0 || (chunkItems == 0 && chunk < std::min(vertices, kMinChunk))) return {};
  ChunkPlan plan{chunk, (vertices + chunk - 1) / chunk};
  if (quantizeBytes(plan) > laneBudget) return {};
  return plan;
}

uint64_t partitionBytes(size_t vertices, const ChunkPlan& plan) {
  return 12 * uint64_t(vertices) + kPartitionFixed + slots(plan) * kPartitionPerTriangle * plan.chunk;
}

uint64_t quantizeBytes(const ChunkPlan& plan) { return kQuantizeFixed + slots(plan) * kQuantizePerVertex * plan.chunk; }

uint64_t clusterBytes(size_t vertices, size_t triangles) {
  return 180 * uint64_t(vertices) + 40 * uint64_t(triangles) + 64 * kMiB;
}

} // namespace mx::cuda
