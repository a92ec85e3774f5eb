#pragma once
// Parent simplification for lod: the union of a tile's children → at most `target` primitives
// (triangles, line segments and points; linework is clustered on the triangles' grid).
//   cluster   vertex clustering (backend Stage::Cluster) on a grid whose cell starts at
//             max(2 × the children's cell, √(area / (target/2)), extent/1023) and grows until
//             the result fits; vertices of different classes never merge
//   quadric   meshopt_simplify (CPU), then clustering when edge collapse stops short
// Error: what the pass moved (largest vertex displacement; for a collapsed triangle, that plus
// the length it collapsed to), in metres of the root frame.
#include "StageRunner.h"

#include <mx/core/Result.h>
#include <mx/core/TileTree.h>

#include <cstdint>

namespace mx::engine {

struct Simplified {
  core::TileMesh mesh;
  double error = 0;
  double cellSize = 0;
};

core::Result<Simplified> simplifyCluster(const core::TileMesh& u, double childCell, uint32_t target,
                                         StageRunner& runner);
core::Result<Simplified> simplifyQuadric(const core::TileMesh& u, double childCell, uint32_t target,
                                         StageRunner& runner);

} // namespace mx::engine
