#pragma once
// The tile tree the pipeline builds and io/tiles writes: explicit nodes, leaves at full detail,
// parents holding simplified unions of their children (REPLACE refinement).
#include <mx/core/Math.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mx::core {

/// Per-vertex appearance and identity class: a feature and a colour. Vertices of different
/// classes are never merged by simplification.
struct VertexClass {
  uint32_t feature = 0;        ///< Index into Scene::features.
  uint32_t rgba = 0xffffffffu; ///< r | g<<8 | b<<16 | a<<24.
  friend bool operator==(const VertexClass&, const VertexClass&) = default;
};

/// A tile's mesh in the tileset's root frame (z up), single precision: triangles, line segments
/// and points over one vertex array (a vertex's normal matters only to triangles).
struct TileMesh {
  std::vector<float> positions;  ///< xyz per vertex.
  std::vector<float> normals;    ///< Empty or xyz per vertex.
  std::vector<uint32_t> classes; ///< Per vertex, index into TileTree::classes.
  std::vector<uint32_t> indices; ///< 3 per triangle.
  std::vector<uint32_t> lines;   ///< 2 per line segment.
  std::vector<uint32_t> points;  ///< 1 per point.
  [[nodiscard]] size_t vertexCount() const { return positions.size() / 3; }
  [[nodiscard]] size_t triangleCount() const { return indices.size() / 3; }
  [[nodiscard]] size_t wireCount() const { return lines.size() / 2 + points.size(); }
  /// Triangles, segments and points: what maxTrianglesPerTile bounds.
  [[nodiscard]] size_t primitiveCount() const { return triangleCount() + wireCount(); }
  [[nodiscard]] Aabbf bounds() const {
    Aabbf b;
    for (size_t i = 0; i + 2 < positions.size(); i += 3) b.extend(positions[i], positions[i + 1], positions[i + 2]);
    return b;
  }
};

struct TileNode {
  Aabb box;                       ///< Encloses the content and every child, root frame.
  double geometricError = 0;      ///< Metres of error when this tile is drawn instead of children.
  uint32_t level = 0;             ///< Depth from the root (root = 0).
  uint32_t indexInLevel = 0;      ///< Position among the tiles of its level, for the content name.
  std::vector<uint32_t> children; ///< Indices into TileTree::nodes.
  TileMesh mesh;                  ///< Empty mesh = no content.
};

struct TileTree {
  std::vector<TileNode> nodes; ///< nodes[0] is the root when not empty.
  std::vector<VertexClass> classes;
  Mat4d rootTransform = identityMatrix(); ///< Root frame → world (ECEF or scene coordinates).
  double geometricError = 0;              ///< Tileset-level error (nothing drawn).
};

} // namespace mx::core
