#include <mx/core/StageChecks.h>

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace mx::core {

namespace {

/// The largest index (0 for none), on every core: inputs reach hundreds of millions of indices.
uint32_t maxIndexOf(std::span<const uint32_t> indices) {
  constexpr size_t kGrain = 1 << 15;
  if (indices.size() <= kGrain) // a tile: one pass, no tasks
    return indices.empty() ? 0 : *std::max_element(indices.begin(), indices.end());
  const size_t chunks = (indices.size() + kGrain - 1) / kGrain;
  std::vector<uint32_t> chunkMax(chunks, 0);
  tbb::parallel_for(size_t(0), chunks, [&](size_t c) {
    const auto part = indices.subspan(c * kGrain, std::min(kGrain, indices.size() - c * kGrain));
    chunkMax[c] = *std::max_element(part.begin(), part.end());
  });
  return *std::max_element(chunkMax.begin(), chunkMax.end());
}

} // namespace

Status validate(const PartitionInput& in) {
  if (in.maxTrianglesPerLeaf == 0) return {ErrorCode::InvalidArgument, "maxTrianglesPerLeaf must be >= 1"};
  if (in.indices.size() % 3 != 0 || in.positions.size() % 3 != 0)
    return {ErrorCode::InvalidArgument, "positions and indices must come in triples"};
  if (in.indices.size() / 3 > 0xFFFFFFFEu) return {ErrorCode::InvalidArgument, "more than 2^32-2 triangles"};
  const size_t v = in.positions.size() / 3;
  const uint32_t maxIndex = maxIndexOf(in.indices);
  if (!in.indices.empty() && maxIndex >= v)
    return {ErrorCode::MalformedInput,
            "triangle index " + std::to_string(maxIndex) + " >= vertex count " + std::to_string(v)};
  return Status::ok();
}

Status validate(const ClusterInput& in) {
  const size_t n = in.positions.size() / 3;
  if (in.positions.size() % 3 != 0 || in.indices.size() % 3 != 0)
    return {ErrorCode::InvalidArgument, "positions and indices must come in triples"};
  if (in.classes.size() != n) return {ErrorCode::InvalidArgument, "one class per vertex is required"};
  if (!(in.cellSize > 0) || !std::isfinite(in.cellSize))
    return {ErrorCode::InvalidArgument, "cellSize must be positive and finite"};
  if (n > 0 && in.bounds.maxExtent() / in.cellSize > float(kMaxClusterGrid) * 1.0001f)
    return {ErrorCode::InvalidArgument, "cellSize too small: the grid exceeds 1024 cells per axis"};
  if (!in.indices.empty() && maxIndexOf(in.indices) >= n)
    return {ErrorCode::MalformedInput, "triangle index out of range in clustering input"};
  return Status::ok();
}

Status validate(const QuantizeInput& in) {
  if (in.positions.size() % 3 != 0) return {ErrorCode::InvalidArgument, "positions must come in triples"};
  if (!in.normals.empty() && in.normals.size() != in.positions.size())
    return {ErrorCode::InvalidArgument, "normals must be empty or one per position"};
  return Status::ok();
}

} // namespace mx::core
