// libFuzzer target: the GeometryStream blob wrapper, op framing and every flatbuffer decoder and
// tessellator behind it, fed arbitrary bytes. Nothing may crash, hang or allocate without bound;
// errors are fine. Seeds: tests/fuzz/corpus (streams from the fixtures).
#include <mx/io/ImodelReader.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mx::io::TessellationOptions options;
  options.boxForUnsupported = (size % 2) == 1;
  (void)mx::io::tessellateGeometryBlob({data, size}, options);
  return 0;
}
