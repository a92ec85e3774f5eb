#pragma once
// The glb writer: one tile's content as glTF 2.0 binary.
//   mesh      one node, one mesh; triangles split into an opaque and a blended primitive, and
//             so are LINES and POINTS (linework) over their own vertices, which have no NORMAL
//   vertices  POSITION (uint16 in the content box with KHR_mesh_quantization and the node's
//             translation/scale, or float32), NORMAL (snorm8), COLOR_0 (RGBA8), _FEATURE_ID_0
//   features  EXT_mesh_features (attribute 0 → property table 0) and EXT_structural_metadata (a
//             `feature` class with UINT64 element, model and subcategory columns)
//   options   meshoptCompression: EXT_meshopt_compression on every vertex and index view
//             (TRIANGLES codec for triangles, INDICES for lines and points);
//             format B3dm: the glb a b3dm embeds (B3dmWriter.h): the feature index as the
//             _BATCHID attribute, no EXT_mesh_features / EXT_structural_metadata
// Output bytes depend only on the content and the options. The glTF reader reads these files
// back (colours and element ids included), so datasets/ writes its input scenes with it too.
#include <mx/core/Result.h>
#include <mx/io/TilesetModel.h>

#include <cstdint>
#include <vector>

namespace mx::io {

/// The glb bytes of one tile (InvalidArgument when the content's arrays disagree).
core::Result<std::vector<uint8_t>> encodeGlb(const TileContent& content, const WriteOptions& options);

} // namespace mx::io
