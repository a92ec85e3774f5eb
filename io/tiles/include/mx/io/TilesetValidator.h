#pragma once
// Checks a written tileset before it is published: tileset.json structure (the 3D Tiles 1.1
// schema's required members and enums for what we write), bounding volumes enclosing content and
// children, geometricError not growing with depth, relative content URIs that exist, glb
// container (magic, version, lengths, chunk types and 4-byte alignment), glTF accessors inside
// their views, POSITION min/max equal to the data, indices in range, EXT_mesh_features ids within
// featureCount and not normalized, EXT_structural_metadata UINT64 columns sized and 8-byte
// aligned, extensionsUsed/Required consistent; meshopt-compressed views are decoded first.
#include <mx/core/Result.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace mx::io {

struct ValidationReport {
  std::vector<std::string> errors;   ///< Each names the file and the rule ("1-3.glb: …").
  std::vector<std::string> warnings;
  uint64_t tiles = 0;
  uint64_t contents = 0;
  uint64_t triangles = 0;
  uint64_t bytes = 0;
  [[nodiscard]] bool ok() const { return errors.empty(); }
};

/// Validates `dir`/tileset.json and everything it references. The Result fails only when the
/// directory cannot be read at all; rule violations are listed in the report.
core::Result<ValidationReport> validateTileset(const std::filesystem::path& dir);

/// Validates one glb. `errors` receives messages prefixed with `name`. On success `bounds`
/// (6 doubles: min xyz, max xyz) receives the content's bounds in the glTF scene frame (node
/// transforms applied, y up) and `triangles` its triangle count.
bool validateGlb(std::span<const uint8_t> bytes, const std::string& name, std::vector<std::string>& errors,
                 double bounds[6], uint64_t& triangles);

} // namespace mx::io
