#pragma once
// Private to io/gltf: KHR_draco_mesh_compression input, decoded with Debian's libdraco.
#include "Document.h"

#include <nlohmann/json_fwd.hpp>

namespace mx::io::gltf {

/// Before tinygltf parses the JSON: the accessors of Draco-compressed primitives have no
/// bufferView (their data is in the Draco bytes), which tinygltf refuses ("accessor[N] invalid
/// bufferView"); each gets the compressed bufferView as a stand-in, which expandDraco replaces
/// with the decoded data.
void standInDracoViews(nlohmann::json& gltf);

/// Decodes every primitive that carries KHR_draco_mesh_compression: its indices and the
/// attributes the extension names (positions, normals, texture coordinates, colours, feature ids:
/// whatever it maps) become plain accessors over new decoded buffers, in the component type their
/// accessors declare, and the extension is removed from the primitive, so the rest of the reader
/// reads them as any other primitive. The extension is then dropped from extensionsRequired.
/// The counts are the Draco data's: an encoder that splits vertices at attribute seams may leave
/// accessor counts that differ, and CesiumJS and three.js draw the decoded data as it is.
/// Errors: data that does not decode, a point cloud, an attribute id the Draco data does not
/// have, values that do not convert to the accessor's type (MalformedInput, naming the primitive).
core::Status expandDraco(Document& doc);

} // namespace mx::io::gltf
