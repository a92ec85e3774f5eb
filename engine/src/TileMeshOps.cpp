#include "TileMeshOps.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <utility>

namespace mx::engine {

using core::TileMesh;

void accumulateNormals(std::span<const float> positions, std::span<const uint32_t> indices, std::span<float> normals) {
  for (size_t t = 0; t + 2 < indices.size(); t += 3) {
    const float* a = &positions[3 * size_t(indices[t])];
    const float* b = &positions[3 * size_t(indices[t + 1])];
    const float* c = &positions[3 * size_t(indices[t + 2])];
    const float u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    const float n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
    for (int k = 0; k < 3; ++k)
      for (int a2 = 0; a2 < 3; ++a2) normals[3 * size_t(indices[t + size_t(k)]) + size_t(a2)] += n[a2];
  }
}

void normalize(std::span<float> normals) {
  for (size_t i = 0; i + 2 < normals.size(); i += 3) {
    const float len =
        std::sqrt(normals[i] * normals[i] + normals[i + 1] * normals[i + 1] + normals[i + 2] * normals[i + 2]);
    if (len > 0) {
      normals[i] /= len;
      normals[i + 1] /= len;
      normals[i + 2] /= len;
    } else {
      normals[i] = 0;
      normals[i + 1] = 0;
      normals[i + 2] = 1;
    }
  }
}

/// A leaf's primitives with its vertices compacted in first-use order (triangles first, then
/// segments, then points). The global → local map (an open-addressing table) and the vertex
/// scratch arrays are kept per thread and reused from leaf to leaf — only the slots a leaf used
/// are cleared — so leaves do not allocate, fault in and fill fresh tables; the leaf's own arrays
/// are allocated once at their final size.
TileMesh gatherLeaf(const TileMesh& all, std::span<const uint32_t> primitives) {
  struct Scratch {
    std::vector<uint64_t> slots; // global id << 32 | local id; ~0 = free
    std::vector<uint32_t> used;
    std::vector<float> positions, normals;
    std::vector<uint32_t> classes;
  };
  thread_local Scratch sc;
  // Primitive ids: triangles, then segments, then points (Partition.h).
  std::span<const uint32_t> triangles = primitives;
  std::vector<uint32_t> tris, segments, points;
  if (all.wireCount()) {
    const size_t nt = all.triangleCount(), nl = all.lines.size() / 2;
    for (const uint32_t id : primitives) {
      if (id < nt)
        tris.push_back(id);
      else if (id < nt + nl)
        segments.push_back(uint32_t(id - nt));
      else
        points.push_back(uint32_t(id - nt - nl));
    }
    triangles = tris;
  }
  // At most 3 new vertices per triangle: 4 slots per triangle keep the load at most 3/4 (3 a
  // segment, 2 a point).
  const size_t capacity =
      std::bit_ceil(std::max<size_t>(16, triangles.size() * 4 + segments.size() * 3 + points.size() * 2));
  if (sc.slots.size() < capacity) sc.slots.assign(capacity, ~0ull);
  const size_t maxVertices = triangles.size() * 3 + segments.size() * 2 + points.size();
  if (sc.classes.size() < maxVertices) {
    sc.positions.resize(3 * maxVertices);
    sc.normals.resize(3 * maxVertices);
    sc.classes.resize(maxVertices);
  }
  uint64_t* slots = sc.slots.data();
  const size_t mask = capacity - 1; // the first `capacity` slots serve this leaf, all free
  sc.used.clear();
  TileMesh m;
  m.indices.resize(triangles.size() * 3);
  uint32_t count = 0;
  size_t k = 0;
  auto hashOf = [mask](uint32_t g) { return size_t((uint64_t(g) * 0x9E3779B97F4A7C15ull) >> 40) & mask; };
  // The loop is bound by cache misses (triangles come in Morton order, their corners and the
  // table slots are scattered): the corners 16 triangles ahead and the slots of those 8 ahead are
  // prefetched.
  constexpr size_t kAheadCorners = 16, kAheadSlots = 8;
  auto localOf = [&](uint32_t g) {
    size_t h = hashOf(g);
    while (slots[h] != ~0ull && uint32_t(slots[h] >> 32) != g) h = (h + 1) & mask;
    if (slots[h] == ~0ull) {
      slots[h] = uint64_t(g) << 32 | count;
      sc.used.push_back(uint32_t(h));
      std::memcpy(&sc.positions[3 * size_t(count)], &all.positions[3 * size_t(g)], 3 * sizeof(float));
      std::memcpy(&sc.normals[3 * size_t(count)], &all.normals[3 * size_t(g)], 3 * sizeof(float));
      sc.classes[count] = all.classes[g];
      ++count;
    }
    return uint32_t(slots[h]);
  };
  const size_t n = triangles.size();
  for (size_t i = 0; i < n; ++i) {
    if (i + kAheadCorners < n) __builtin_prefetch(&all.indices[3 * size_t(triangles[i + kAheadCorners])]);
    if (i + kAheadSlots < n) {
      const uint32_t* ahead = &all.indices[3 * size_t(triangles[i + kAheadSlots])];
      for (int c = 0; c < 3; ++c) __builtin_prefetch(&slots[hashOf(ahead[c])]);
    }
    const uint32_t t = triangles[i];
    for (int c = 0; c < 3; ++c) m.indices[k++] = localOf(all.indices[3 * size_t(t) + size_t(c)]);
  }
  m.lines.resize(2 * segments.size());
  for (size_t i = 0; i < segments.size(); ++i)
    for (size_t c = 0; c < 2; ++c) m.lines[2 * i + c] = localOf(all.lines[2 * size_t(segments[i]) + c]);
  m.points.resize(points.size());
  for (size_t i = 0; i < points.size(); ++i) m.points[i] = localOf(all.points[points[i]]);
  for (uint32_t h : sc.used) slots[h] = ~0ull;
  m.positions.assign(sc.positions.begin(), sc.positions.begin() + std::ptrdiff_t(3 * size_t(count)));
  m.normals.assign(sc.normals.begin(), sc.normals.begin() + std::ptrdiff_t(3 * size_t(count)));
  m.classes.assign(sc.classes.begin(), sc.classes.begin() + std::ptrdiff_t(count));
  if (maxVertices > (size_t(1) << 20))
    sc = {}; // huge tiles (a large maxTrianglesPerTile): do not keep ~100 MB a thread
  return m;
}

TileMesh concatenate(const std::vector<const TileMesh*>& parts) {
  TileMesh u;
  size_t v = 0, i = 0, l = 0, pt = 0;
  for (const TileMesh* p : parts) {
    v += p->vertexCount();
    i += p->indices.size();
    l += p->lines.size();
    pt += p->points.size();
  }
  u.positions.reserve(3 * v);
  u.normals.reserve(3 * v);
  u.classes.reserve(v);
  u.indices.reserve(i);
  u.lines.reserve(l);
  u.points.reserve(pt);
  for (const TileMesh* p : parts) {
    const uint32_t base = uint32_t(u.vertexCount());
    u.positions.insert(u.positions.end(), p->positions.begin(), p->positions.end());
    u.normals.insert(u.normals.end(), p->normals.begin(), p->normals.end());
    u.classes.insert(u.classes.end(), p->classes.begin(), p->classes.end());
    for (uint32_t idx : p->indices) u.indices.push_back(base + idx);
    for (uint32_t idx : p->lines) u.lines.push_back(base + idx);
    for (uint32_t idx : p->points) u.points.push_back(base + idx);
  }
  return u;
}

namespace {

/// Renumbers m's vertices in first-use order over `groups` of index lists, each group numbering
/// its own copies (a vertex two groups use is split in two), and drops the unused ones. Returns
/// how many vertices the first group uses.
size_t renumber(TileMesh& m, std::initializer_list<std::initializer_list<std::vector<uint32_t>*>> groups) {
  std::vector<uint32_t> order, remap;
  size_t firstGroup = 0;
  bool first = true;
  for (const auto& group : groups) {
    remap.assign(m.vertexCount(), ~0u);
    for (std::vector<uint32_t>* list : group)
      for (uint32_t& idx : *list) {
        if (remap[idx] == ~0u) {
          remap[idx] = uint32_t(order.size());
          order.push_back(idx);
        }
        idx = remap[idx];
      }
    if (std::exchange(first, false)) firstGroup = order.size();
  }
  TileMesh c;
  c.positions.resize(3 * order.size());
  c.normals.resize(m.normals.empty() ? 0 : 3 * order.size());
  c.classes.resize(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    std::memcpy(&c.positions[3 * i], &m.positions[3 * size_t(order[i])], 3 * sizeof(float));
    if (!m.normals.empty()) std::memcpy(&c.normals[3 * i], &m.normals[3 * size_t(order[i])], 3 * sizeof(float));
    c.classes[i] = m.classes[order[i]];
  }
  c.indices = std::move(m.indices);
  c.lines = std::move(m.lines);
  c.points = std::move(m.points);
  m = std::move(c);
  return firstGroup;
}

} // namespace

/// Removes vertices no primitive uses (keeps first-use order of the remaining ones stable:
/// triangles, then segments, then points).
void compact(TileMesh& m) { renumber(m, {{&m.indices, &m.lines, &m.points}}); }

size_t surfaceVerticesFirst(TileMesh& m) { return renumber(m, {{&m.indices}, {&m.lines, &m.points}}); }

double lineLength(const TileMesh& m) {
  double length = 0;
  for (size_t k = 0; k + 1 < m.lines.size(); k += 2) {
    const float* a = &m.positions[3 * size_t(m.lines[k])];
    const float* b = &m.positions[3 * size_t(m.lines[k + 1])];
    length += std::sqrt(double(a[0] - b[0]) * (a[0] - b[0]) + double(a[1] - b[1]) * (a[1] - b[1]) +
                        double(a[2] - b[2]) * (a[2] - b[2]));
  }
  return length;
}

double surfaceArea(const TileMesh& m) {
  double area = 0;
  for (size_t t = 0; t + 2 < m.indices.size(); t += 3) {
    const float* a = &m.positions[3 * size_t(m.indices[t])];
    const float* b = &m.positions[3 * size_t(m.indices[t + 1])];
    const float* c = &m.positions[3 * size_t(m.indices[t + 2])];
    const double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    const double n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
    area += 0.5 * std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  }
  return area;
}

} // namespace mx::engine
