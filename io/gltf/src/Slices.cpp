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
  if (s.vertices.mirrored)
    for (size_t t = 0; t < n; ++t) std::swap(idx[3 * t + 1], idx[3 * t + 2]);

  // Each vertex once, in ascending order (one pass over each attribute's pages). Its slot: a dense
  // table over the slice's id range when that range is small (the usual, coherent primitive),
  // else a binary search of the sorted ids.
  std::vector<uint32_t> verts(idx);
  std::sort(verts.begin(), verts.end());
  verts.erase(std::unique(verts.begin(), verts.end()), verts.end());
  const uint32_t lo = verts.empty() ? 0 : verts.front();
  const size_t range = verts.empty() ? 0 : size_t(verts.back() - lo) + 1;
  std::vector<uint32_t> dense;
  if (range <= 4 * verts.size() + 1024) {
    dense.resize(range);
    for (size_t k = 0; k < verts.size(); ++k) dense[verts[k] - lo] = uint32_t(k);
  }
  auto slot = [&](uint32_t v) -> uint32_t {
    if (!dense.empty()) return dense[v - lo];
    return uint32_t(std::lower_bound(verts.begin(), verts.end(), v) - verts.begin());
  };
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

  // Triangles by the colour of their first corner; each part's vertices in first-use order. A
  // vertex's number in the first part that uses it is kept per slot; in any other part (a vertex
  // on a colour border) in a small map.
  constexpr uint32_t kNone = UINT32_MAX;
  std::vector<SlicePart> parts;
  std::unordered_map<uint32_t, uint32_t> partOf; // colour → index into parts
  std::vector<uint32_t> firstPart(verts.size(), kNone), firstNumber(verts.size(), kNone);
  std::unordered_map<uint64_t, uint32_t> otherNumber; // part << 32 | slot → number
  for (size_t t = 0; t < n; ++t) {
    const uint32_t firstCorner = slot(idx[3 * t]);
    std::optional<uint32_t> color;
    if (s.colors) color = data[firstCorner].color;
    auto [it, added] = partOf.try_emplace(color.value_or(0), uint32_t(parts.size()));
    if (added) parts.push_back({color, {}});
    const uint32_t p = it->second;
    core::Mesh& mesh = parts[p].mesh;
    for (int k = 0; k < 3; ++k) {
      const uint32_t at = k == 0 ? firstCorner : slot(idx[3 * t + size_t(k)]);
      uint32_t* number = nullptr;
      if (firstPart[at] == kNone || firstPart[at] == p) {
        firstPart[at] = p;
        number = &firstNumber[at];
      } else {
        number = &otherNumber.try_emplace(uint64_t(p) << 32 | at, kNone).first->second;
      }
      if (*number == kNone) {
        *number = uint32_t(mesh.positions.size());
        const Fetched& f = data[at];
        mesh.positions.push_back(f.p);
        if (s.vertices.normal) mesh.normals.insert(mesh.normals.end(), f.n, f.n + 3);
        mesh.featureIds.push_back(f.feature);
      }
      mesh.indices.push_back(*number);
    }
  }
  return parts;
}

} // namespace mx::io::gltf
