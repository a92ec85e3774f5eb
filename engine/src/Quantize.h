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

/// How the tiles of one subtree of a larger tileset are named (out-of-core exports, OutOfCore.h):
/// a tile of level L is `<levelOffset + L>-<n>` with n counted on in `levelCount` across subtrees,
/// and the per-level metrics are added to rather than replaced.
struct SubtreeNaming {
  uint32_t levelOffset = 0;
  std::vector<uint32_t>* levelCount = nullptr;
};

/// quantize as a timed stage of an export (tile meshes are released as they are quantized), then the
/// tileset nodes and root transform around the contents.
core::Result<io::TilesetModel> runQuantize(TreeWork& work, const core::Scene& scene, const ExportOptions& options,
                                           core::ExportMetrics& metrics, StageRunner& runner,
                                           const SubtreeNaming* naming = nullptr);

/// Node boxes again, bottom-up (children follow their parent): each the padded union of its
/// content box and its children's boxes. Nodes from `from` on keep theirs.
void recomputeBoxes(io::TilesetModel& model, size_t from);

/// The tileset-level geometricError of a model whose root is built.
double tilesetError(const io::TilesetModel& model);

} // namespace mx::engine
