#pragma once
// Array operations on TileMesh (positions, normals, per-vertex class, triangle indices) shared
// by prepare and lod. Pure functions: no backend, no threads of their own.
#include <mx/core/TileTree.h>

#include <cstdint>
#include <span>
#include <vector>

namespace mx::engine {

/// Adds each triangle's (area-weighted) face normal to its three corners' normals.
void accumulateNormals(std::span<const float> positions, std::span<const uint32_t> indices, std::span<float> normals);

/// Normalizes every normal; a zero normal becomes +z.
void normalize(std::span<float> normals);

/// A leaf's primitives (ids as Partition.h numbers them: triangles of `all`, then its segments,
/// then its points) with its vertices compacted in first-use order. Uses per-thread scratch
/// tables reused from leaf to leaf.
core::TileMesh gatherLeaf(const core::TileMesh& all, std::span<const uint32_t> primitives);

/// Wire vertices last: vertices some triangle uses come first (in their order), then the vertices
/// only segments and points use; a vertex both use is split in two. Returns how many vertices the
/// triangles use.
size_t surfaceVerticesFirst(core::TileMesh& m);

/// The union of `parts`, in order (indices rebased).
core::TileMesh concatenate(const std::vector<const core::TileMesh*>& parts);

/// Removes vertices no primitive uses (keeps first-use order of the remaining ones stable).
void compact(core::TileMesh& m);

/// Sum of the segments' lengths (float64).
double lineLength(const core::TileMesh& m);

/// Sum of the triangles' areas (float64).
double surfaceArea(const core::TileMesh& m);

} // namespace mx::engine
