#include "Nodes.h"

#include <cmath>
#include <functional>
#include <set>

namespace mx::io::gltf {

using core::Mat4d;

Mat4d localMatrix(const tinygltf::Node& n) {
  if (n.matrix.size() == 16) {
    Mat4d m;
    for (int i = 0; i < 16; ++i) m[size_t(i)] = n.matrix[size_t(i)];
    return m;
  }
  const double tx = n.translation.size() == 3 ? n.translation[0] : 0;
  const double ty = n.translation.size() == 3 ? n.translation[1] : 0;
  const double tz = n.translation.size() == 3 ? n.translation[2] : 0;
  double qx = 0, qy = 0, qz = 0, qw = 1;
  if (n.rotation.size() == 4) {
    qx = n.rotation[0];
    qy = n.rotation[1];
    qz = n.rotation[2];
    qw = n.rotation[3];
  }
  const double sx = n.scale.size() == 3 ? n.scale[0] : 1;
  const double sy = n.scale.size() == 3 ? n.scale[1] : 1;
  const double sz = n.scale.size() == 3 ? n.scale[2] : 1;
  // Column-major T * R * S.
  return {(1 - 2 * (qy * qy + qz * qz)) * sx,
          (2 * (qx * qy + qz * qw)) * sx,
          (2 * (qx * qz - qy * qw)) * sx,
          0,
          (2 * (qx * qy - qz * qw)) * sy,
          (1 - 2 * (qx * qx + qz * qz)) * sy,
          (2 * (qy * qz + qx * qw)) * sy,
          0,
          (2 * (qx * qz + qy * qw)) * sz,
          (2 * (qy * qz - qx * qw)) * sz,
          (1 - 2 * (qx * qx + qy * qy)) * sz,
          0,
          tx,
          ty,
          tz,
          1};
}

std::optional<core::Aabb> declaredBounds(const tinygltf::Model& m, const std::vector<int>& roots) {
  core::Aabb box;
  std::set<int> onPath;
  std::function<bool(int, const Mat4d&, int)> walk = [&](int index, const Mat4d& parent, int depth) {
    if (index < 0 || size_t(index) >= m.nodes.size() || depth > kMaxNodeDepth || !onPath.insert(index).second)
      return false;
    const tinygltf::Node& node = m.nodes[size_t(index)];
    const Mat4d world = core::multiply(parent, localMatrix(node));
    if (node.mesh >= 0 && size_t(node.mesh) < m.meshes.size())
      for (const auto& prim : m.meshes[size_t(node.mesh)].primitives) {
        auto it = prim.attributes.find("POSITION");
        if (it == prim.attributes.end() || it->second < 0 || size_t(it->second) >= m.accessors.size()) return false;
        const tinygltf::Accessor& a = m.accessors[size_t(it->second)];
        if (a.minValues.size() != 3 || a.maxValues.size() != 3) return false;
        for (int c = 0; c < 8; ++c) {
          const core::Vec3d p{(c & 1) ? a.maxValues[0] : a.minValues[0], (c & 2) ? a.maxValues[1] : a.minValues[1],
                              (c & 4) ? a.maxValues[2] : a.minValues[2]};
          const core::Vec3d w = core::transformPoint(world, p);
          box.extend(w.x, w.y, w.z);
        }
      }
    for (int c : node.children)
      if (!walk(c, world, depth + 1)) return false;
    onPath.erase(index);
    return true;
  };
  for (int r : roots)
    if (!walk(r, kYUpToZUp, 0)) return std::nullopt;
  if (box.empty() || !std::isfinite(box.min[0] + box.min[1] + box.min[2] + box.max[0] + box.max[1] + box.max[2]))
    return std::nullopt;
  return box;
}

} // namespace mx::io::gltf
