#include "Slices.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

namespace mx::io::gltf {

namespace {

/// What a part needs of one vertex.
struct Fetched {
  core::Vec3d p;
  float n[3] = {0, 0, 1};
  uint32_t feature = 0;
  uint32_t color = 0;
};

/// The pages of the attributes read so far (vertices below `upTo`) released.
void releaseBehind(const SliceSource& s, size_t from, size_t upTo) {
  if (!s.release || upTo <= from) return;
  auto behind = [&](const AccessorView& v) { s.release(v.element(from), v.element(upTo)); };
  behind(s.vertices.pos);
  if (s.vertices.normal) behind(*s.vertices.normal);
  if (s.rows) behind(s.rows->view);
  if (s.colors) behind(s.colors->view);
}

} // namespace

Result<std::vector<SlicePart>> readTriangleSlice(const SliceSource& s, size_t first, size_t last,
                                                 const std::function<uint32_t(std::optional<uint32_t>)>& featureOf) {
  const size_t n = last - first;
  std::vector<uint32_t> idx(3 * n);
  for (size_t i = 0; i < idx.size(); ++i) {
    const size_t at = 3 * first + i;
    idx[i] = s.indices ? s.indices->getIndex(at) : uint32_t(at);
    if (idx[i] >= s.vertexCount)
      return malformed("index " + std::to_string(at) + " = " + std::to_string(idx[i]) + " is out of range (" +
                       std::to_string(s.vertexCount) + " vertices)");
  }
  if (s.indices && s.release && n) s.release(s.indices->element(3 * first), s.indices->element(3 * last - 1));
  if (s.mirrored)
    for (size_t t = 0; t < n; ++t) std::swap(idx[3 * t + 1], idx[3 * t + 2]);

  // Each vertex once, in ascending order (one pass over each attribute's pages).
  std::vector<uint32_t> verts(idx);
  std::sort(verts.begin(), verts.end());
  verts.erase(std::unique(verts.begin(), verts.end()), verts.end());
  std::vector<Fetched> data(verts.size());
  size_t released = verts.empty() ? 0 : verts[0];
  for (size_t k = 0; k < verts.size(); ++k) {
    const uint32_t v = verts[k];
    Fetched& f = data[k];
    f.p = s.vertices.position(v);
    if (!std::isfinite(f.p.x) || !std::isfinite(f.p.y) || !std::isfinite(f.p.z))
      return malformed("POSITION[" + std::to_string(v) + "] is NaN or infinite");
    if (s.vertices.normal) {
      const double x = s.vertices.normal->get(v, 0), y = s.vertices.normal->get(v, 1), z = s.vertices.normal->get(v, 2);
      if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(z))
        return malformed("NORMAL[" + std::to_string(v) + "] is NaN or infinite");
      s.vertices.unitNormal(v, f.n);
    }
    std::optional<uint32_t> row;
    if (s.rows) {
      uint32_t r = 0;
      if (!s.rows->row(v, r)) return s.rows->failure(v);
      if (r != s.rows->nullId) row = r;
    }
    f.feature = featureOf(row);
    if (s.colors && !s.colors->key(v, f.color))
      return malformed("COLOR_0[" + std::to_string(v) + "] is NaN or infinite");
    if ((k & 4095) == 4095) {
      releaseBehind(s, released, v);
      released = v;
    }
  }
  if (!verts.empty()) releaseBehind(s, released, verts.back() + size_t(1));
  auto slot = [&](uint32_t v) { return size_t(std::lower_bound(verts.begin(), verts.end(), v) - verts.begin()); };

  // Triangles by the colour of their first corner; each part's vertices in first-use order.
  std::vector<SlicePart> parts;
  std::unordered_map<uint32_t, size_t> partOf; // colour → index into parts
  std::vector<std::unordered_map<size_t, uint32_t>> local;
  for (size_t t = 0; t < n; ++t) {
    const size_t firstCorner = slot(idx[3 * t]);
    std::optional<uint32_t> color;
    if (s.colors) color = data[firstCorner].color;
    auto [it, added] = partOf.try_emplace(color.value_or(0), parts.size());
    if (added) {
      parts.push_back({color, {}});
      local.emplace_back();
    }
    SlicePart& part = parts[it->second];
    auto& numbers = local[it->second];
    for (int k = 0; k < 3; ++k) {
      const size_t at = k == 0 ? firstCorner : slot(idx[3 * t + size_t(k)]);
      auto [number, fresh] = numbers.try_emplace(at, uint32_t(part.mesh.positions.size()));
      if (fresh) {
        const Fetched& f = data[at];
        part.mesh.positions.push_back(f.p);
        if (s.vertices.normal) part.mesh.normals.insert(part.mesh.normals.end(), f.n, f.n + 3);
        part.mesh.featureIds.push_back(f.feature);
      }
      part.mesh.indices.push_back(number->second);
    }
  }
  return parts;
}

} // namespace mx::io::gltf
