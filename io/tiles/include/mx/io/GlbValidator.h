#pragma once
// Checks one glb content file: the container (magic, version, lengths, chunk types, 4-byte
// alignment), glTF accessors inside their views, POSITION min/max equal to the data, indices in
// range, EXT_mesh_features ids within featureCount and not normalized, EXT_structural_metadata
// UINT64 columns sized and 8-byte aligned, extensionsUsed/Required consistent; meshopt-compressed
// views are decoded first. TilesetValidator.h checks the tileset around it.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mx::io {

/// Validates one glb. `errors` receives messages prefixed with `name`. On success `bounds`
/// (6 doubles: min xyz, max xyz) receives the content's bounds in the glTF scene frame (node
/// transforms applied, y up) and `triangles` its triangle count.
bool validateGlb(std::span<const uint8_t> bytes, const std::string& name, std::vector<std::string>& errors,
                 double bounds[6], uint64_t& triangles);

} // namespace mx::io
