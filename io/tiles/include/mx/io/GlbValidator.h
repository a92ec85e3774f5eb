#pragma once
// Checks one glb content file: the container (magic, version, lengths, chunk types, 4-byte
// alignment), glTF accessors inside their views, POSITION min/max equal to the data, indices in
// range, EXT_mesh_features ids within featureCount and not normalized, EXT_structural_metadata
// UINT64 columns sized and 8-byte aligned, extensionsUsed/Required consistent; meshopt-compressed
// views are decoded first. validateB3dm checks a b3dm and its glb (B3dmValidator.cpp).
// TilesetValidator.h checks the tileset around them.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mx::io {

/// Validates one glb. `errors` receives messages prefixed with `name`. On success `bounds`
/// (6 doubles: min xyz, max xyz) receives the content's bounds in the glTF scene frame (node
/// transforms applied, y up) and `triangles` its triangle count. `batchLength` set: the glb of a
/// b3dm, whose features are the _BATCHID attribute's values in [0, batchLength) instead of
/// EXT_mesh_features.
bool validateGlb(std::span<const uint8_t> bytes, const std::string& name, std::vector<std::string>& errors,
                 double bounds[6], uint64_t& triangles, std::optional<uint64_t> batchLength = std::nullopt);

/// Validates one b3dm (3D Tiles 1.0): the header (magic, version 1, byteLength equal to the
/// file's, table lengths inside it), 8-byte alignment of every section, the feature table
/// (BATCH_LENGTH, an optional RTC_CENTER of 3 numbers, no other members, no binary body), the
/// batch table (each property an array of BATCH_LENGTH values, or a binary reference inside the
/// body) with element, model and subcategory Id64 strings, and the embedded glb (validateGlb with
/// the batch length). Outputs as validateGlb's.
bool validateB3dm(std::span<const uint8_t> bytes, const std::string& name, std::vector<std::string>& errors,
                  double bounds[6], uint64_t& triangles);

} // namespace mx::io
