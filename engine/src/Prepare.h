#pragma once
// Stage prepare: the Scene (float64 world, meshes and instanced shared meshes) → one flat mesh
// (triangles, line segments and points over one vertex array).
//   in          a Scene; checked here: index counts and ranges, feature and material ids, finite
//               positions and instance transforms (MalformedInput names the mesh or instance)
//   out         Prepared: every triangle in the root frame (float32, centred on the bounds'
//               centre), one VertexClass (feature, colour) per vertex numbered by first occurrence,
//               normals (given ones transformed by the cofactor matrix; area-weighted otherwise)
//   invariants  winding flips where an instance transform mirrors; < 2^32 vertices and triangles
//   backend     none (CPU, oneTBB over meshes)
#include <mx/core/Result.h>
#include <mx/core/Scene.h>
#include <mx/core/TileTree.h>
#include <mx/engine/Pipeline.h>

#include <optional>
#include <vector>

namespace mx::engine {

struct Prepared {
  core::TileMesh mesh; ///< Every triangle, root frame.
  std::vector<core::VertexClass> classes;
  core::Vec3d center; ///< Root frame origin in scene coordinates.
};

/// `center`: the root frame's origin; the bounds' centre when not given.
core::Result<Prepared> prepare(const core::Scene& scene, std::optional<core::Vec3d> center = std::nullopt);

/// prepare() as a timed stage of an export. `owned`, when given, is the same scene as `scene`,
/// owned by the caller and no longer needed after prepare: its meshes are released here (the flat
/// copy replaces them), which lowers the peak memory of an export by the size of the input mesh.
core::Result<Prepared> runPrepare(const core::Scene& scene, const ExportOptions& options, core::ExportMetrics& metrics,
                                  core::Scene* owned);

} // namespace mx::engine
