#pragma once
// What io/tiles writes: an explicit tile tree with per-tile mesh content already quantized by the
// engine's backend. The writer turns it into tileset.json + one glb per tile; it never simplifies,
// quantizes or moves geometry itself.
#include <mx/core/Math.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace mx::io {

/// Output flavours; an export type selects options of the one writer, never another writer.
enum class ExportType { ThreeDTiles, Cesium, Imodel };

/// Tile content of 3DTILES and CESIUM exports (tilerConfig outputFormat): glb in a 3D Tiles 1.1
/// tileset (features by EXT_mesh_features + EXT_structural_metadata), or b3dm in a 3D Tiles 1.0
/// tileset (features by the glb's _BATCHID attribute and the b3dm's batch table).
enum class ContentFormat { Glb, B3dm };

/// One row of the glb's EXT_structural_metadata property table (ids as UINT64).
struct FeatureRow {
  uint64_t element = 0;
  uint64_t model = 0;
  uint64_t subcategory = 0;
};

/// One tile's mesh in the glTF frame (y up). When `quantized`, positionsQ holds uint16 x,y,z,0
/// per vertex and the glTF node's translation/scale dequantize them; otherwise `positions` holds
/// floats (translation 0, scale 1). Triangles use the first vertexCount() - wireVertices vertices
/// (the only ones with normals); line segments and points use the last wireVertices.
struct TileContent {
  bool quantized = true;
  std::vector<uint16_t> positionsQ;
  std::vector<float> positions;
  std::array<double, 3> translation{0, 0, 0};
  std::array<double, 3> scale{1, 1, 1};
  std::vector<int8_t> normalsQ;     ///< snorm8 x,y,z,0 per triangle vertex, or empty.
  std::vector<uint32_t> colors;     ///< RGBA8 per vertex (r in the low byte).
  std::vector<uint32_t> featureIds; ///< Per vertex, index into `features`.
  std::vector<uint32_t> indices;    ///< 3 per triangle, each < surfaceVertices().
  std::vector<uint32_t> lines;      ///< 2 per line segment, each ≥ surfaceVertices().
  std::vector<uint32_t> points;     ///< 1 per point, each ≥ surfaceVertices().
  uint32_t wireVertices = 0;        ///< The last vertices, used only by lines and points.
  std::vector<FeatureRow> features;

  [[nodiscard]] size_t vertexCount() const { return featureIds.size(); }
  [[nodiscard]] size_t surfaceVertices() const { return vertexCount() - std::min<size_t>(wireVertices, vertexCount()); }
};

struct TilesetNode {
  core::Aabb box; ///< Root frame; encloses the content and every child.
  double geometricError = 0;
  std::vector<uint32_t> children; ///< Indices into TilesetModel::nodes.
  int32_t content = -1;           ///< Index into TilesetModel::contents, -1 for none.
  std::string uri;                ///< "<level>-<index>.glb" (.b3dm, .imdl) when content >= 0.
  core::Aabb contentBox;          ///< Tight bounds of the content, root frame.
};

struct TilesetModel {
  std::vector<TilesetNode> nodes; ///< nodes[0] is the root.
  std::vector<TileContent> contents;
  core::Mat4d rootTransform = core::identityMatrix();
  double geometricError = 0; ///< Tileset-level geometricError.
};

struct WriteOptions {
  ExportType type = ExportType::ThreeDTiles;
  ContentFormat format = ContentFormat::Glb; ///< Ignored by IMODEL (iMdl contents).
  bool meshoptCompression = false;           ///< EXT_meshopt_compression on vertex and index data.
  std::string generator = "meshexport";
};

struct WriteReport {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t largestContentBytes = 0; ///< The largest content file (tileset.json aside).
  std::string largestContent;       ///< Its uri.
};

} // namespace mx::io
