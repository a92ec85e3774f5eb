#pragma once
// A reader's Scene handed over in batches, for exports under a memory budget (tilerConfig
// memoryBudgetMB). The reader builds its Scene as it always does and calls `take(scene, upcoming)`
// before it adds a piece (a glTF primitive, a window of iModel elements) of `upcoming` triangles,
// segments and points that would bring what it added since the last call over `primitives`. When
// `take` answers true it has used the Scene's meshes: the reader clears the meshes and instances
// (features, materials and shared meshes stay, since later meshes refer to them) and goes on in
// streaming mode, where a piece larger than `primitives` is read in parts of whole triangles with a
// `take(scene, 0)` after each. When it answers false the reader keeps everything, so a caller that
// never takes gets the same Scene as a read without batches.
#include <mx/core/Math.h>
#include <mx/core/Result.h>
#include <mx/core/Scene.h>

#include <cstddef>
#include <functional>
#include <optional>

namespace mx::core {

struct SceneBatches {
  size_t primitives = size_t(1) << 20;
  std::function<Result<bool>(Scene& scene, size_t upcoming)> take;
  /// Set by the reader before the first `take`: the bounds the file declares for its geometry, in
  /// scene coordinates (glTF: POSITION min/max under the node transforms; iModel: the project
  /// extents), when it declares any. A hint: geometry may lie outside it.
  std::optional<Aabb> declaredBounds;
};

} // namespace mx::core
