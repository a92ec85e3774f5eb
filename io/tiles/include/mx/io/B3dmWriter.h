#pragma once
// The b3dm writer: one tile's content as a 3D Tiles 1.0 Batched 3D Model (tilerConfig
// outputFormat=b3dm), for clients and tools that read only 3D Tiles 1.0.
//   header        "b3dm", version 1, byteLength and the four table lengths (28 bytes)
//   feature table JSON {"BATCH_LENGTH": features}, no binary body
//   batch table   JSON arrays `element`, `model`, `subcategory`: one Id64 string per feature
//                 ("0x1a"; "0" for none), as iTwin.js writes ids, since 64-bit ids do not fit a
//                 JSON number nor a 1.0 batch table binary type
//   glb           encodeGlb with format B3dm (vertices carry _BATCHID)
// Every section starts and ends on an 8-byte boundary (JSON padded with spaces). Output bytes
// depend only on the content and the options. B3dmValidator.h checks these files.
#include <mx/core/Result.h>
#include <mx/io/TilesetModel.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mx::io {

/// The b3dm bytes of one tile (InvalidArgument when the content's arrays disagree).
core::Result<std::vector<uint8_t>> encodeB3dm(const TileContent& content, const WriteOptions& options);

/// An id as iTwin.js' Id64String: lower-case hex with 0x, no leading zeros; "0" for 0.
std::string id64String(uint64_t id);

} // namespace mx::io
