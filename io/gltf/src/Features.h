#pragma once
// Per-vertex data the glTF reader takes beyond positions and normals:
//   EXT_structural_metadata  property tables; the UINT64 columns `element`, `model` and
//                            `subcategory` (what meshexport's own tiles carry) name the features
//   EXT_mesh_features        a primitive's featureIds[0] with an `attribute` (_FEATURE_ID_n) and a
//                            `propertyTable`: each vertex's row in that table
//   COLOR_0                  per-vertex colour (VEC3 or VEC4; float or normalized integers)
// So a glb tile meshexport wrote reads back with its element ids and colours.
#include "Accessor.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mx::io::gltf {

/// One property table: `count` rows; a column is empty when the table lacks it.
struct PropertyTable {
  size_t count = 0;
  std::vector<uint64_t> element, model, subcategory;
};

/// Every property table of EXT_structural_metadata (none without the extension). A UINT64 column
/// whose bufferView is missing or shorter than count × 8 bytes is MalformedInput.
Result<std::vector<PropertyTable>> readPropertyTables(const Document& d);

struct VertexFeatures {
  size_t table = 0;               ///< Index into the property tables.
  std::vector<uint32_t> rows;     ///< Per vertex.
  std::optional<uint32_t> nullId; ///< Rows with this value belong to no feature.
};

/// A primitive's EXT_mesh_features featureIds[0], read vertex by vertex (large primitives read in parts).
struct FeatureRows {
  std::string name; ///< The attribute, _FEATURE_ID_n.
  AccessorView view;
  size_t table = 0;
  std::optional<uint32_t> nullId;
  size_t rowCount = 0;
  /// Vertex v's row (nullId included); false when it is not a feature id or past the table.
  bool row(size_t v, uint32_t& out) const;
  /// The error for a vertex row() refused.
  [[nodiscard]] Status failure(size_t v) const;
};
Result<std::optional<FeatureRows>> featureRows(const Document& d, const tinygltf::Primitive& prim, size_t vertexCount,
                                               const std::vector<PropertyTable>& tables);

/// COLOR_0 × factor, read vertex by vertex (the same keys as readVertexColorKeys).
struct ColorKeys {
  AccessorView view;
  std::array<double, 4> factor{1, 1, 1, 1};
  bool bytes = false; ///< Normalized bytes under a white factor: taken as they are.
  /// Vertex v's key; false when a component is NaN or infinite.
  bool key(size_t v, uint32_t& out) const;
};
Result<std::optional<ColorKeys>> colorKeys(const Document& d, const tinygltf::Primitive& prim, size_t vertexCount,
                                           const std::array<double, 4>& factor);

/// The primitive's EXT_mesh_features featureIds[0] when it names an attribute and a property
/// table; nullopt when the primitive has none. Rows past the table are MalformedInput.
Result<std::optional<VertexFeatures>> readVertexFeatures(const Document& d, const tinygltf::Primitive& prim,
                                                         size_t vertexCount, const std::vector<PropertyTable>& tables);

/// COLOR_0 per vertex (linear RGBA clamped to [0, 1], alpha 1 for VEC3) times `factor` (the base
/// colour factor), as 8-bit RGBA packed r | g << 8 | b << 16 | a << 24; nullopt when absent.
Result<std::optional<std::vector<uint32_t>>> readVertexColorKeys(const Document& d, const tinygltf::Primitive& prim,
                                                                 size_t vertexCount,
                                                                 const std::array<double, 4>& factor);

} // namespace mx::io::gltf
