#pragma once
// Private to io/gltf: node transforms (TRS or matrix), the y-up → z-up turn, and the bounds a file
// declares (POSITION min/max under the node transforms: an out-of-core read's key box).
#include <mx/core/Math.h>

#include <tiny_gltf.h>

#include <optional>
#include <vector>

namespace mx::io::gltf {

inline constexpr int kMaxNodeDepth = 256;

/// glTF y-up → scene z-up: (x, y, z) → (x, -z, y).
inline constexpr core::Mat4d kYUpToZUp = {1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1};

/// A node's local transform: its matrix, else translation · rotation · scale.
core::Mat4d localMatrix(const tinygltf::Node& n);

/// The bounds the file declares: every mesh node's POSITION min/max corners under its transform
/// from `roots`; nullopt when a primitive lacks them or the hierarchy is malformed (the read
/// reports that).
std::optional<core::Aabb> declaredBounds(const tinygltf::Model& m, const std::vector<int>& roots);

} // namespace mx::io::gltf
