#pragma once
// Stage lod: the binary BVH → a tile tree with full-detail leaves and simplified parents.
//   in          the prepared mesh and its partition (BVH over Morton-sorted triangles); both are
//               released as soon as the leaves hold their triangles
//   out         tiles breadth-first (grouped by level, numbered within it in a fixed order), each
//               with its mesh, children, geometric error and clustering cell
//   rules       the BVH is collapsed kBvhLevelsPerTile levels at a time, so a tile has at most
//               kMaxChildren children; leaves keep their triangles (vertices compacted in
//               first-use order); parents, deepest level first and the tiles of one level in
//               parallel, get the union of their children simplified until it fits
//               maxTrianglesPerTile (Simplify.h); a parent's error is its children's largest
//               error plus what its simplification moved
//   backend     Stage::Cluster through StageRunner (simplifier=cluster; quadric's fallback)
#include "StageRunner.h"

#include <mx/core/IComputeBackend.h>
#include <mx/core/Result.h>
#include <mx/core/TileTree.h>

#include <cstdint>
#include <vector>

namespace mx::engine {

/// BVH levels one tile level spans, and so the most children a tile has (2^3).
inline constexpr int kBvhLevelsPerTile = 3;
inline constexpr size_t kMaxChildren = size_t(1) << kBvhLevelsPerTile;

struct TileBuild {
  int32_t bvh = -1;
  uint32_t level = 0;
  std::vector<uint32_t> children;
  core::TileMesh mesh;
  double error = 0;    ///< Metres, before geometricErrorScale.
  double cellSize = 0; ///< Clustering cell of this tile's content (0 = full detail).
};

/// The tiles of the BVH, breadth first, without meshes (leaves keep their BVH node).
std::vector<TileBuild> collapseBvh(const core::PartitionOutput& part);

/// The parents of `tiles` (those with children), deepest level first, each the union of its
/// children simplified to fit; tiles without children keep the mesh, error and cell they have.
core::Status simplifyParents(std::vector<TileBuild>& tiles, const ExportOptions& options, StageRunner& runner);

/// lod as a timed stage of an export; `tiles` receives the tree (empty when there are no
/// triangles).
core::Status runLod(core::TileMesh&& mesh, core::PartitionOutput&& part, const ExportOptions& options,
                    core::ExportMetrics& metrics, StageRunner& runner, std::vector<TileBuild>& tiles);

} // namespace mx::engine
