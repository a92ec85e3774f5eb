#pragma once
// iMdl: iTwin.js' own binary tile format, the content of exportType IMODEL tilesets that
// @itwin/frontend-tiles reads (../shared/docs/imdl-format.md). The writer of .imdl contents and of
// the BENTLEY_BatchedTileSet tileset envelope, and the checker the validator runs on each tile.
#include <mx/core/Math.h>
#include <mx/core/Result.h>
#include <mx/io/TilesetModel.h>

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace mx::io {

/// iMdl version written: major.minor (37.0 = iTwin.js 5.x, CurrentImdlVersion).
inline constexpr uint32_t kImdlMajor = 37;
inline constexpr uint32_t kImdlMinor = 0;
/// Largest lookup-texture side written (the smallest MAX_TEXTURE_SIZE WebGL 2 guarantees).
inline constexpr uint32_t kImdlMaxTextureDim = 2048;

/// One tile's iMdl bytes: positions in the tile frame (z up: the glTF frame of `content` turned
/// back), lit surfaces with oct normals, a multi-model feature table, opaque and translucent
/// geometry in separate primitives, primitives split to fit the lookup texture. Line segments are
/// polyline primitives (type 1, tessellated as iTwin.js tessellates a 1-pixel line string), points
/// point-string primitives (type 2).
/// `tolerance` goes into the header (the tile's geometric error).
core::Result<std::vector<uint8_t>> encodeImdl(const TileContent& content, double tolerance);

/// The IMODEL tileset.json: 3D Tiles 1.1 shape with extensions.BENTLEY_BatchedTileSet.models (every
/// model with its extents in iModel coordinates), box volumes, the root transform (a translation),
/// no transforms below it, `asset.tilesetVersion` "37.0".
/// Per model id, the extents of its features' decoded vertices in iModel coordinates.
using ImdlModelExtents = std::map<uint64_t, core::Aabb>;

/// Adds the extents of `model`'s contents (under its root translation) to `extents`.
void addImdlModelExtents(const TilesetModel& model, ImdlModelExtents& extents);

/// `extents` null: gathered from model.contents; else as given (contents written in parts).
std::string encodeImdlTilesetJson(const TilesetModel& model, const std::string& generator,
                                  const ImdlModelExtents* extents = nullptr);

/// "0x1c": canonical Id64 (lower-case hex, no leading zeros); "0" for 0.
std::string canonicalId64(uint64_t id);

/// What the checker learnt about a valid tile.
struct ImdlSummary {
  double contentLow[3] = {0, 0, 0}, contentHigh[3] = {0, 0, 0}; ///< Header contentRange.
  double bounds[6] = {0, 0, 0, 0, 0, 0};                        ///< Decoded positions: min xyz, max xyz (tile frame).
  uint64_t triangles = 0;
  uint64_t segments = 0; ///< Line segments of polyline primitives.
  uint64_t points = 0;   ///< Points of point-string primitives.
  uint32_t major = 0;
  std::set<uint64_t> models;                     ///< Model ids of the feature table.
  std::map<uint64_t, uint64_t> elementTriangles; ///< Triangles per element id.
  std::map<uint64_t, uint64_t> elementSegments;  ///< Line segments per element id.
};

/// Decodes and checks one iMdl tile as iTwin.js reads it: header (magic, version, length, flags),
/// feature table (length, multi-model section contiguous and ordered), glTF-1 framing, JSON
/// (Node_Root, meshes, materials for each primitive), 4-byte aligned bufferViews inside the
/// binary section, vertex tables of exactly width·height·4 bytes, indices and per-vertex feature
/// and colour indices in range, contentRange enclosing the decoded positions.
bool validateImdl(std::span<const uint8_t> bytes, const std::string& name, std::vector<std::string>& errors,
                  ImdlSummary& summary);

} // namespace mx::io
