#pragma once
// Checks a written tileset before it is published: tileset.json structure (the 3D Tiles 1.1
// schema's required members and enums for what we write), bounding volumes enclosing content and
// children, geometricError not growing with depth, relative content URIs that exist, and every
// content file (glb and b3dm: GlbValidator.h; iMdl: ImdlWriter.h's validateImdl).
#include <mx/core/Result.h>
#include <mx/io/GlbValidator.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace mx::io {

struct ValidationReport {
  std::vector<std::string> errors; ///< Each names the file and the rule ("1-3.glb: …").
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

} // namespace mx::io
