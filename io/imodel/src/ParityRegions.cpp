// Parity regions (CurveVector boundary type 4) as iTwin.js fills them. Loops are placed by
// containment (even-odd nesting), never by their order in the stream. Loops that touch or cross
// another (a hole on the outer edge, a hole sharing the outer's corner) are first resolved into the
// boundary of the even-odd area by a small planar arrangement: every edge is cut where another
// loop's vertex lies on it or another edge crosses it, coincident pieces cancel in pairs, the
// faces are traced, and a face is filled when a point just inside it lies inside an odd number of
// the original loops. Points stay the loops' own (cut points are interpolated along their edge).
#include "Tessellation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>

namespace mx::io::geometry {

namespace {

struct Flat {
  double x, y;
};

/// Beyond this many edges in one region the arrangement is skipped (O(n²) pair tests): such loops
/// are placed by nesting alone.
constexpr size_t kMaxArrangementEdges = 4096;

/// Newell's normal of a loop (length: twice its area).
Vec3d newellNormal(const std::vector<Vec3d>& loop) {
  Vec3d n{0, 0, 0};
  for (size_t i = 0; i < loop.size(); ++i) {
    const Vec3d a = loop[i], b = loop[(i + 1) % loop.size()];
    n = n + Vec3d{(a.y - b.y) * (a.z + b.z), (a.z - b.z) * (a.x + b.x), (a.x - b.x) * (a.y + b.y)};
  }
  return n;
}

double cross2(Flat o, Flat a, Flat b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); }

/// Distance from q to segment ab, and the parameter of its closest point.
double segmentDistance(Flat a, Flat b, Flat q, double& t) {
  const double ex = b.x - a.x, ey = b.y - a.y, len2 = ex * ex + ey * ey;
  t = len2 > 0 ? std::clamp(((q.x - a.x) * ex + (q.y - a.y) * ey) / len2, 0.0, 1.0) : 0;
  return std::hypot(a.x + t * ex - q.x, a.y + t * ey - q.y);
}

/// Even-odd test of `q` against `loop`; nullopt when `q` lies on its boundary (within `eps`).
std::optional<bool> inside(const std::vector<Flat>& loop, Flat q, double eps) {
  bool in = false;
  for (size_t i = 0, j = loop.size() - 1; i < loop.size(); j = i++) {
    const Flat a = loop[j], b = loop[i];
    double t;
    if (segmentDistance(a, b, q, t) <= eps) return std::nullopt;
    if ((a.y > q.y) != (b.y > q.y) && q.x < a.x + (q.y - a.y) * (b.x - a.x) / (b.y - a.y)) in = !in;
  }
  return in;
}

/// Whether loop `outer` encloses loop `inner`: decided by the first vertex of `inner` off
/// `outer`'s boundary; a loop lying wholly on the other's boundary is inside the larger one.
bool encloses(const std::vector<Flat>& outer, double outerArea, const std::vector<Flat>& inner, double innerArea,
              double eps) {
  for (const Flat& q : inner)
    if (auto in = inside(outer, q, eps)) return *in;
  return outerArea > innerArea;
}

/// The loops in one plane: 2D coordinates in an orthonormal basis of the largest loop's plane.
struct Plane {
  Vec3d u, w;
  [[nodiscard]] Flat flat(Vec3d q) const {
    return {q.x * u.x + q.y * u.y + q.z * u.z, q.x * w.x + q.y * w.y + q.z * w.z};
  }
};

/// Loops (3D, with their 2D images) after the arrangement.
struct Loops {
  std::vector<std::vector<Vec3d>> points;
  std::vector<std::vector<Flat>> flat;
};

/// Whether two loops touch or cross: a vertex of one within `eps` of an edge of the other, or two
/// edges that cross.
bool touchOrCross(const std::vector<Flat>& a, const std::vector<Flat>& b, double eps) {
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < b.size(); ++j) {
      const Flat p = a[i], q = a[(i + 1) % a.size()], r = b[j], s = b[(j + 1) % b.size()];
      double t;
      if (segmentDistance(r, s, p, t) <= eps || segmentDistance(p, q, r, t) <= eps) return true;
      const double d1 = cross2(p, q, r), d2 = cross2(p, q, s), d3 = cross2(r, s, p), d4 = cross2(r, s, q);
      if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
    }
  return false;
}

/// The even-odd area of `in` as loops that neither cross nor share edges (they may meet at
/// points): outer boundaries counter-clockwise, holes clockwise.
Loops arrange(const Loops& in, double eps) {
  // Vertices: every loop point and cut point, merged within eps.
  std::vector<Flat> vf;
  std::vector<Vec3d> v3;
  auto vertexOf = [&](Flat f, Vec3d p) {
    for (size_t k = 0; k < vf.size(); ++k)
      if (std::hypot(vf[k].x - f.x, vf[k].y - f.y) <= eps) return uint32_t(k);
    vf.push_back(f);
    v3.push_back(p);
    return uint32_t(vf.size() - 1);
  };
  struct Edge {
    size_t loop, index;
  };
  std::vector<Edge> edges;
  for (size_t l = 0; l < in.flat.size(); ++l)
    for (size_t i = 0; i < in.flat[l].size(); ++i) edges.push_back({l, i});
  auto ends = [&](const Edge& e, Flat& a, Flat& b, Vec3d& a3, Vec3d& b3) {
    const size_t n = in.flat[e.loop].size(), j = (e.index + 1) % n;
    a = in.flat[e.loop][e.index], b = in.flat[e.loop][j];
    a3 = in.points[e.loop][e.index], b3 = in.points[e.loop][j];
  };
  // Each edge cut at the parameters where other edges' ends lie on it or other edges cross it;
  // pieces counted by their (unordered) vertex pair.
  std::map<std::pair<uint32_t, uint32_t>, int> pieces;
  for (const Edge& e : edges) {
    Flat a, b;
    Vec3d a3, b3;
    ends(e, a, b, a3, b3);
    std::vector<double> cuts{0, 1};
    for (const Edge& o : edges) {
      if (o.loop == e.loop && o.index == e.index) continue;
      Flat r, s;
      Vec3d r3, s3;
      ends(o, r, s, r3, s3);
      for (Flat q : {r, s}) {
        double t;
        if (segmentDistance(a, b, q, t) <= eps && t > 0 && t < 1) cuts.push_back(t);
      }
      const double d1 = cross2(a, b, r), d2 = cross2(a, b, s), d3 = cross2(r, s, a), d4 = cross2(r, s, b);
      if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)))
        cuts.push_back(d3 / (d3 - d4));
    }
    std::sort(cuts.begin(), cuts.end());
    uint32_t prev = vertexOf(a, a3);
    for (size_t k = 1; k < cuts.size(); ++k) {
      const double t = cuts[k];
      const Flat f{a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)};
      const uint32_t cur = k + 1 == cuts.size() ? vertexOf(b, b3) : vertexOf(f, a3 + (b3 - a3) * t);
      if (cur != prev) ++pieces[{std::min(prev, cur), std::max(prev, cur)}];
      prev = cur;
    }
  }
  // Coincident pieces cancel in pairs (even-odd); the rest, both directions, sorted round each vertex.
  std::vector<std::vector<uint32_t>> out(vf.size());
  for (const auto& [key, count] : pieces)
    if (count % 2) {
      out[key.first].push_back(key.second);
      out[key.second].push_back(key.first);
    }
  auto angle = [&](uint32_t from, uint32_t to) { return std::atan2(vf[to].y - vf[from].y, vf[to].x - vf[from].x); };
  for (uint32_t k = 0; k < out.size(); ++k)
    std::sort(out[k].begin(), out[k].end(), [&](uint32_t x, uint32_t y) { return angle(k, x) < angle(k, y); });
  // Faces: follow each directed edge keeping the face on the left (at v, from u, the next edge
  // clockwise after v→u).
  std::map<std::pair<uint32_t, uint32_t>, bool> used;
  Loops result;
  for (uint32_t s = 0; s < out.size(); ++s)
    for (uint32_t t0 : out[s]) {
      if (used[{s, t0}]) continue;
      std::vector<uint32_t> cycle;
      uint32_t u = s, v = t0;
      while (!used[{u, v}] && cycle.size() <= 4 * pieces.size()) {
        used[{u, v}] = true;
        cycle.push_back(u);
        const auto& around = out[v];
        const size_t back = size_t(std::find(around.begin(), around.end(), u) - around.begin());
        const uint32_t next = around[(back + around.size() - 1) % around.size()];
        u = v;
        v = next;
      }
      if (cycle.size() < 3) continue;
      // The face left of the cycle is filled when a point just left of its longest edge lies inside
      // an odd number of the original loops.
      size_t longest = 0;
      double best = -1;
      for (size_t k = 0; k < cycle.size(); ++k) {
        const Flat a = vf[cycle[k]], b = vf[cycle[(k + 1) % cycle.size()]];
        if (std::hypot(b.x - a.x, b.y - a.y) > best) best = std::hypot(b.x - a.x, b.y - a.y), longest = k;
      }
      const Flat a = vf[cycle[longest]], b = vf[cycle[(longest + 1) % cycle.size()]];
      const double step = std::max(4 * eps, 1e-6 * best);
      const Flat probe{(a.x + b.x) / 2 - (b.y - a.y) / best * step, (a.y + b.y) / 2 + (b.x - a.x) / best * step};
      bool filled = false;
      for (const auto& loop : in.flat) filled ^= inside(loop, probe, 0).value_or(false);
      if (!filled) continue;
      result.points.emplace_back();
      result.flat.emplace_back();
      for (uint32_t k : cycle) {
        result.points.back().push_back(v3[k]);
        result.flat.back().push_back(vf[k]);
      }
    }
  return result;
}

} // namespace

std::vector<Region> parityRegions(std::vector<std::vector<Vec3d>> loops) {
  std::vector<Region> out;
  if (loops.empty()) return out;
  // One plane for all (the largest loop's), and a boundary tolerance from the extent.
  size_t largest = 0;
  for (size_t i = 0; i < loops.size(); ++i)
    if (core::length(newellNormal(loops[i])) > core::length(newellNormal(loops[largest]))) largest = i;
  Vec3d n = newellNormal(loops[largest]);
  if (core::length(n) == 0) return out;
  n = n * (1 / core::length(n));
  const Vec3d ref = std::abs(n.x) < 0.9 ? Vec3d{1, 0, 0} : Vec3d{0, 1, 0};
  Plane plane;
  plane.u = cross(ref, n);
  plane.u = plane.u * (1 / core::length(plane.u));
  plane.w = cross(n, plane.u);
  Loops all;
  double extent = 0;
  size_t edges = 0;
  for (auto& loop : loops) {
    all.flat.emplace_back();
    for (const Vec3d& q : loop) {
      all.flat.back().push_back(plane.flat(q));
      extent = std::max({extent, std::abs(all.flat.back().back().x), std::abs(all.flat.back().back().y)});
    }
    edges += loop.size();
    all.points.push_back(std::move(loop));
  }
  const double eps = 1e-9 * std::max(1.0, extent);
  bool meet = false;
  for (size_t i = 0; i < all.flat.size() && !meet && edges <= kMaxArrangementEdges; ++i)
    for (size_t j = i + 1; j < all.flat.size() && !meet; ++j) meet = touchOrCross(all.flat[i], all.flat[j], eps);
  if (meet) all = arrange(all, eps);

  const size_t count = all.flat.size();
  std::vector<double> areas(count);
  for (size_t i = 0; i < count; ++i) areas[i] = core::length(newellNormal(all.points[i])) / 2;
  std::vector<std::vector<bool>> in(count, std::vector<bool>(count, false));
  std::vector<int> depth(count, 0);
  for (size_t i = 0; i < count; ++i)
    for (size_t j = 0; j < count; ++j)
      if (i != j && encloses(all.flat[j], areas[j], all.flat[i], areas[i], eps)) {
        in[i][j] = true;
        ++depth[i];
      }
  std::vector<size_t> regionOf(count, SIZE_MAX);
  for (size_t i = 0; i < count; ++i)
    if (depth[i] % 2 == 0) {
      regionOf[i] = out.size();
      out.push_back(Region{std::move(all.points[i]), {}, std::nullopt});
    }
  for (size_t i = 0; i < count; ++i) {
    if (depth[i] % 2 == 0) continue;
    // Its parent: the enclosing loop one level up (the smallest of those around it).
    for (size_t j = 0; j < count; ++j)
      if (in[i][j] && depth[j] == depth[i] - 1) {
        out[regionOf[j]].holes.push_back(std::move(all.points[i]));
        break;
      }
  }
  return out;
}

} // namespace mx::io::geometry
