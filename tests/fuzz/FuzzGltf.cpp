// libFuzzer target: the glTF reader (glb container, JSON through tinygltf, accessors, features,
// colours, KHR_draco_mesh_compression through libdraco) fed arbitrary bytes, as a glb and, when
// they start with '{', as .gltf text. Nothing may crash, hang or allocate without bound; errors
// are fine. Seeds: tests/fuzz/gltf-corpus (a plain glb and its Draco twin).
#include <mx/io/GltfReader.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const bool text = size > 0 && data[0] == '{';
  (void)mx::io::readGltfFromMemory({data, size}, !text);
  return 0;
}
