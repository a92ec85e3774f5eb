#pragma once
// The one writer of tileset.json and glb content. Export types select options, not writers.
#include <mx/core/Result.h>
#include <mx/io/TilesetModel.h>

#include <filesystem>
#include <span>
#include <string>

namespace mx::io {

struct WriteOptions {
  ExportType type = ExportType::ThreeDTiles;
  bool meshoptCompression = false;  ///< EXT_meshopt_compression on vertex and index data.
  std::string generator = "meshexport";
};

struct WriteReport {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

/// Writes `dir`/tileset.json and every content glb into `dir` (which must exist). Content files
/// are encoded on oneTBB threads; output bytes depend only on the model and options.
core::Result<WriteReport> writeTileset(const TilesetModel& model, const std::filesystem::path& dir,
                                       const WriteOptions& options);

/// The glb bytes of one tile (glTF 2.0 + EXT_mesh_features + EXT_structural_metadata, and
/// KHR_mesh_quantization / EXT_meshopt_compression as the content and options say).
core::Result<std::vector<uint8_t>> encodeGlb(const TileContent& content, const WriteOptions& options);

/// The tileset.json text.
std::string encodeTilesetJson(const TilesetModel& model, const WriteOptions& options);

} // namespace mx::io
