#pragma once
// Where the tileset sits on the earth: the root transform (root frame → world). A translation to
// the scene centre, then the east-north-up frame of the EcefLocation (the --location option's,
// else the input's) when there is one; IMODEL tilesets stay in iModel spatial coordinates.
#include <mx/core/Math.h>
#include <mx/core/Scene.h>
#include <mx/engine/Pipeline.h>

namespace mx::engine {

core::Mat4d rootTransform(const core::Scene& scene, const ExportOptions& options, const core::Vec3d& center);

} // namespace mx::engine
