#pragma once
// Private to io/gltf: a glTF document whose buffers are views, not copies. tinygltf parses the
// JSON (without its "buffers" and "images", which it would copy or decode); the buffers are spans
// into the glb's BIN chunk, memory maps of external .bin files, or decoded data URIs. A glb read
// through readGltf is itself a memory map, so no byte of geometry is copied before the scene is
// built from the accessors. KHR_draco_mesh_compression primitives are the exception: they are
// decoded at load into buffers of their own (Draco.h).
#include <mx/core/MappedFile.h>
#include <mx/core/Result.h>

#include <tiny_gltf.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace mx::io::gltf {

struct Document {
  tinygltf::Model model;
  /// Buffer i of the glTF, exactly its byteLength long; valid while the Document and the bytes it
  /// was loaded from live.
  std::vector<std::span<const uint8_t>> buffers;
  std::vector<std::string> warnings;

  // Storage behind the spans that are not the caller's bytes (external files, data URIs).
  std::vector<core::MappedFile> maps;
  std::vector<std::vector<uint8_t>> decoded;
  /// The bytes that are file maps (external buffers; the glb itself when readGltf mapped it): an
  /// out-of-core read releases their resident pages between batches.
  std::vector<std::span<const uint8_t>> mapped;
};

/// Loads a glb (`binary`) or a .gltf text from `bytes`; external buffers are resolved against
/// `baseDir`. The Document's buffers may point into `bytes`, which must outlive it.
core::Result<std::unique_ptr<Document>> loadDocument(std::span<const uint8_t> bytes, bool binary,
                                                     const std::string& baseDir);

} // namespace mx::io::gltf
