#pragma once
// Stage quantize: the tile tree → the TilesetModel every writer takes.
//   in          tiles from lod (meshes in the root frame, z up) and the scene's features
//   out         per tile with triangles, segments or points, one TileContent (linework vertices
//               last, without normals): positions in the glTF frame (y up) as
//               uint16 in the tile's content box (or float32 with quantizePositions=false),
//               normals as snorm8, colours, a feature table of local ids in first-use order;
//               per tile one TilesetNode: children, error × geometricErrorScale (0 for leaves),
//               content URI `<level>-<index>.glb|.imdl`, content and node boxes (flat axes
//               padded so every box has volume); the root transform (Geolocation.h)
//   backend     Stage::Quantize through StageRunner, per tile in parallel
#include "Lod.h"
#include "StageRunner.h"

#include <mx/core/Result.h>
#include <mx/core/Scene.h>
#include <mx/io/TilesetModel.h>

#include <vector>

namespace mx::engine {

/// What lod leaves for quantize: the tiles, the vertex classes and the root frame's origin.
struct TreeWork {
  std::vector<TileBuild> tiles;
  std::vector<core::VertexClass> classes;
  core::Vec3d center;
};

/// quantize as a timed stage of an export (tile meshes are released as they are quantized), then the
/// tileset nodes and root transform around the contents.
core::Result<io::TilesetModel> runQuantize(TreeWork& work, const core::Scene& scene, const ExportOptions& options,
                                           core::ExportMetrics& metrics, StageRunner& runner);

} // namespace mx::engine
