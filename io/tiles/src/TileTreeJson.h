#pragma once
// The tile tree as tileset.json's `root`, shared by the 3D Tiles and the IMODEL writers: box
// volumes, geometric errors, content URIs, REPLACE refinement, the root transform.
#include <mx/io/TilesetModel.h>

#include <nlohmann/json.hpp>

namespace mx::io {

/// {"box": [centre, half axes]} of an axis-aligned box.
nlohmann::json boxVolumeJson(const core::Aabb& b);

/// The root tile with every descendant, built bottom-up (deep trees cannot overflow the stack).
nlohmann::json tileTreeJson(const TilesetModel& model);

} // namespace mx::io
