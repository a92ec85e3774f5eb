#pragma once
// The tileset writer: tileset.json and one content file per tile with content (glb for 3DTILES and
// CESIUM: GlbWriter.h, or b3dm in a 1.0 tileset with format B3dm: B3dmWriter.h; iMdl for IMODEL:
// ImdlWriter.h). Export types select options, not writers.
#include <mx/core/Result.h>
#include <mx/io/GlbWriter.h>
#include <mx/io/ImdlWriter.h>
#include <mx/io/TilesetModel.h>

#include <filesystem>
#include <span>
#include <string>

namespace mx::io {

/// Writes `dir`/tileset.json and every content glb into `dir` (which must exist). Content files
/// are encoded on oneTBB threads; output bytes depend only on the model and options.
core::Result<WriteReport> writeTileset(const TilesetModel& model, const std::filesystem::path& dir,
                                       const WriteOptions& options);

/// Only the content files of `model` (a part of a tileset, written before the rest is built).
core::Result<WriteReport> writeContents(const TilesetModel& model, const std::filesystem::path& dir,
                                        const WriteOptions& options);

/// Only `dir`/tileset.json, added to `report`. `extents`: the IMODEL models' extents gathered
/// from contents written earlier (addImdlModelExtents); null: from model.contents.
core::Status writeTilesetJson(const TilesetModel& model, const std::filesystem::path& dir, const WriteOptions& options,
                              WriteReport& report, const ImdlModelExtents* extents = nullptr);

/// The tileset.json text.
std::string encodeTilesetJson(const TilesetModel& model, const WriteOptions& options);

} // namespace mx::io
