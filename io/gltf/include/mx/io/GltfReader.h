#pragma once
// glTF 2.0 input (.glb / .gltf) → Scene, through tinygltf. Node transforms are applied; each glTF
// node that has a mesh becomes one feature (element id = node index + 1), unless EXT_mesh_features
// and an EXT_structural_metadata table of UINT64 element/model/subcategory ids name the features
// per vertex (meshexport's own tiles: they read back with their ids); COLOR_0 is kept as colours
// (× baseColorFactor). TRIANGLES, TRIANGLE_STRIP and TRIANGLE_FAN primitives are read (points and
// lines are skipped with a warning). glTF is y-up; the scene is z-up
// (x, y, z)glTF → (x, -z, y)scene, the rotation 3D Tiles clients apply to glTF content.
#include <mx/core/Result.h>
#include <mx/core/Scene.h>
#include <mx/core/SceneBatches.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace mx::io {

/// Reads a .glb or .gltf file. Malformed input (truncated file, missing buffers, indices out of
/// range, NaN/Inf positions, accessors outside their buffers) gives MalformedInput;
/// features we do not read (sparse accessors, Draco/meshopt-compressed input) UnsupportedInput.
/// `batches`: the scene is handed over in batches as it is read (core/SceneBatches.h).
core::Result<core::Scene> readGltf(const std::filesystem::path& path, core::SceneBatches* batches = nullptr);

/// The same from memory. `baseDir` resolves external buffer URIs of a .gltf.
core::Result<core::Scene> readGltfFromMemory(std::span<const uint8_t> bytes, bool binary,
                                             const std::string& baseDir = ".", core::SceneBatches* batches = nullptr);

} // namespace mx::io
