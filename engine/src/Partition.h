#pragma once
// Stage partition, as the engine runs it: the prepared mesh → a binary BVH over its triangles.
//   in          positions and indices of the prepared mesh, maxTrianglesPerTile
//   out         PartitionOutput: triangle order (Morton-sorted, ties by id) and BVH nodes whose
//               leaves are contiguous ranges of at most maxTrianglesPerTile triangles
//   backend     Stage::Partition through StageRunner (CUDA or CPU; core::validate checks the input)
#include "StageRunner.h"

#include <mx/core/IComputeBackend.h>
#include <mx/core/Result.h>
#include <mx/core/TileTree.h>

namespace mx::engine {

core::Result<core::PartitionOutput> runPartition(const core::TileMesh& mesh, const ExportOptions& options,
                                                 core::ExportMetrics& metrics, StageRunner& runner);

} // namespace mx::engine
