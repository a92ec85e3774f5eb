#pragma once
// Stage partition, as the engine runs it: the prepared mesh → a binary BVH over its primitives.
//   in          positions and indices of the prepared mesh, maxTrianglesPerTile
//   out         PartitionOutput: primitive order (Morton-sorted, ties by id) and BVH nodes whose
//               leaves are contiguous ranges of at most maxTrianglesPerTile primitives. Primitive
//               ids: triangles first (0 … T-1), then line segments (T … T+L-1), then points; a
//               segment (a, b) is partitioned as the triangle (a, b, b), a point p as (p, p, p), so
//               linework follows the same spatial rule as the surfaces around it
//   backend     Stage::Partition through StageRunner (CUDA or CPU; core::validate checks the input)
#include "StageRunner.h"

#include <mx/core/IComputeBackend.h>
#include <mx/core/Result.h>
#include <mx/core/TileTree.h>

#include <vector>

namespace mx::engine {

/// The indices the backend partitions: the triangles, then each segment and point as a degenerate
/// triangle (see above).
std::vector<uint32_t> partitionIndices(const core::TileMesh& mesh);

core::Result<core::PartitionOutput> runPartition(const core::TileMesh& mesh, const ExportOptions& options,
                                                 core::ExportMetrics& metrics, StageRunner& runner);

} // namespace mx::engine
