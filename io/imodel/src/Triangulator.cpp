#include "Triangulator.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mx::io {

using core::Vec3d;

namespace {

struct P2 {
  double x, y;
};

/// Point-in-triangle tests one region may spend before the rest is fanned (well under a second).
constexpr uint64_t kEarClippingWork = uint64_t(1) << 27;

double cross(P2 o, P2 a, P2 b) { return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x); }

double signedArea(const std::vector<P2>& p, const std::vector<uint32_t>& loop) {
  double a = 0;
  for (size_t i = 0; i < loop.size(); ++i) {
    const P2 u = p[loop[i]], w = p[loop[(i + 1) % loop.size()]];
    a += u.x * w.y - w.x * u.y;
  }
  return a / 2;
}

bool inTriangle(P2 a, P2 b, P2 c, P2 q) {
  const double d1 = cross(a, b, q), d2 = cross(b, c, q), d3 = cross(c, a, q);
  const bool neg = d1 < 0 || d2 < 0 || d3<0, pos = d1> 0 || d2 > 0 || d3 > 0;
  return !(neg && pos);
}

/// Whether direction `d` from poly[i] points into the polygon (counter-clockwise: the interior is
/// the turn from the edge to the next vertex round to the edge to the previous one).
bool opensInto(const std::vector<P2>& p, const std::vector<uint32_t>& poly, size_t i, P2 d) {
  const P2 v = p[poly[i]], next = p[poly[(i + 1) % poly.size()]], prev = p[poly[(i + poly.size() - 1) % poly.size()]];
  const P2 a{next.x - v.x, next.y - v.y}, b{prev.x - v.x, prev.y - v.y};
  auto cr = [](P2 u, P2 w) { return u.x * w.y - u.y * w.x; };
  if (cr(a, b) >= 0) return cr(a, d) > 0 && cr(d, b) > 0; // convex corner
  return !(cr(b, d) >= 0 && cr(d, a) >= 0);               // reflex: anywhere but the outside wedge
}

/// A vertex bridged in before appears twice in `poly` (once each side of its bridge): of the
/// occurrences of poly[i]'s point, the one whose corner opens towards `m`. Taking the other makes
/// the new bridge cross the old one, and the triangles overlap.
size_t twinFacing(const std::vector<P2>& p, const std::vector<uint32_t>& poly, size_t i, P2 m) {
  const P2 v = p[poly[i]];
  const P2 d{m.x - v.x, m.y - v.y};
  if (opensInto(p, poly, i, d)) return i;
  for (size_t j = 0; j < poly.size(); ++j)
    if (j != i && p[poly[j]].x == v.x && p[poly[j]].y == v.y && opensInto(p, poly, j, d)) return j;
  return i;
}

/// Joins `hole` (clockwise) into `poly` (counter-clockwise) through a mutually visible pair.
void bridge(const std::vector<P2>& p, std::vector<uint32_t>& poly, const std::vector<uint32_t>& hole) {
  size_t hm = 0;
  for (size_t i = 1; i < hole.size(); ++i)
    if (p[hole[i]].x > p[hole[hm]].x) hm = i;
  const P2 m = p[hole[hm]];
  // Closest edge hit by the ray from m towards +x.
  double bestX = std::numeric_limits<double>::max();
  size_t bestI = std::numeric_limits<size_t>::max();
  for (size_t i = 0; i < poly.size(); ++i) {
    const P2 a = p[poly[i]], b = p[poly[(i + 1) % poly.size()]];
    if ((a.y > m.y) == (b.y > m.y)) continue;
    const double x = a.x + (m.y - a.y) * (b.x - a.x) / (b.y - a.y);
    if (x >= m.x && x < bestX) {
      bestX = x;
      bestI = a.x > b.x ? i : (i + 1) % poly.size();
    }
  }
  if (bestI == std::numeric_limits<size_t>::max()) { // no hit (degenerate): nearest vertex
    double d = std::numeric_limits<double>::max();
    for (size_t i = 0; i < poly.size(); ++i) {
      const double e = std::hypot(p[poly[i]].x - m.x, p[poly[i]].y - m.y);
      if (e < d) {
        d = e;
        bestI = i;
      }
    }
  } else {
    // A reflex vertex inside (m, hit, candidate) would block the view: take the one with the
    // smallest angle to the ray instead.
    const P2 hit{bestX, m.y}, cand = p[poly[bestI]];
    double bestAngle = std::numeric_limits<double>::max();
    size_t blocked = std::numeric_limits<size_t>::max();
    for (size_t i = 0; i < poly.size(); ++i) {
      const P2 q = p[poly[i]];
      if (i == bestI || q.x < m.x) continue;
      const P2 prev = p[poly[(i + poly.size() - 1) % poly.size()]], next = p[poly[(i + 1) % poly.size()]];
      if (cross(prev, q, next) >= 0) continue; // convex
      if (!inTriangle(m, hit, cand, q)) continue;
      const double angle = std::atan2(std::abs(q.y - m.y), q.x - m.x);
      if (angle < bestAngle) {
        bestAngle = angle;
        blocked = i;
      }
    }
    if (blocked != std::numeric_limits<size_t>::max()) bestI = blocked;
  }
  if (bestI >= poly.size()) return; // nothing visible (degenerate input): leave the hole out
  bestI = twinFacing(p, poly, bestI, m);
  std::vector<uint32_t> merged;
  merged.reserve(poly.size() + hole.size() + 2);
  for (size_t i = 0; i <= bestI; ++i) merged.push_back(poly[i]);
  for (size_t k = 0; k <= hole.size(); ++k) merged.push_back(hole[(hm + k) % hole.size()]);
  for (size_t i = bestI; i < poly.size(); ++i) merged.push_back(poly[i]);
  poly.swap(merged);
}

/// The points in an orthonormal basis of the outer loop's plane (Newell normal); false when the
/// loop has no area. In this basis the outer loop is counter-clockwise.
bool projectToPlane(const std::vector<Vec3d>& points, const std::vector<uint32_t>& outer, std::vector<P2>& p) {
  Vec3d n{0, 0, 0};
  for (size_t i = 0; i < outer.size(); ++i) {
    const Vec3d a = points[outer[i]], b = points[outer[(i + 1) % outer.size()]];
    n = n + Vec3d{(a.y - b.y) * (a.z + b.z), (a.z - b.z) * (a.x + b.x), (a.x - b.x) * (a.y + b.y)};
  }
  const double len = core::length(n);
  if (len == 0) return false;
  n = n * (1 / len);
  const Vec3d ref = std::abs(n.x) < 0.9 ? Vec3d{1, 0, 0} : Vec3d{0, 1, 0};
  Vec3d u{ref.y * n.z - ref.z * n.y, ref.z * n.x - ref.x * n.z, ref.x * n.y - ref.y * n.x};
  u = u * (1 / core::length(u));
  const Vec3d w{n.y * u.z - n.z * u.y, n.z * u.x - n.x * u.z, n.x * u.y - n.y * u.x};
  p.resize(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    const Vec3d q = points[i];
    p[i] = {q.x * u.x + q.y * u.y + q.z * u.z, q.x * w.x + q.y * w.y + q.z * w.z};
  }
  return true;
}

/// Ear clipping (O(n²) usually, O(n³) on hostile loops); a guard stops on degenerate input, and
/// a work budget bounds the time: past it, the rest of the loop is fanned from its first vertex
/// (exact for convex remainders; a loop that large and that contorted has no good answer).
void clipEars(const std::vector<P2>& p, std::vector<uint32_t> v, std::vector<uint32_t>& out) {
  size_t guard = 0;
  uint64_t work = 0;
  while (v.size() > 3 && guard < 2 * v.size() + 8) {
    if (work > kEarClippingWork) {
      for (size_t k = 1; k + 1 < v.size(); ++k) out.insert(out.end(), {v[0], v[k], v[k + 1]});
      return;
    }
    bool clipped = false;
    for (size_t i = 0; i < v.size(); ++i) {
      const size_t ip = (i + v.size() - 1) % v.size(), in = (i + 1) % v.size();
      const P2 a = p[v[ip]], b = p[v[i]], c = p[v[in]];
      ++work;
      if (cross(a, b, c) <= 0) continue; // reflex or flat
      work += v.size();
      if (work > kEarClippingWork) break;
      bool empty = true;
      for (size_t k = 0; k < v.size() && empty; ++k) {
        if (k == ip || k == i || k == in) continue;
        const P2 q = p[v[k]];
        if ((q.x == a.x && q.y == a.y) || (q.x == b.x && q.y == b.y) || (q.x == c.x && q.y == c.y))
          continue; // bridge twins
        if (inTriangle(a, b, c, q)) empty = false;
      }
      if (!empty) continue;
      out.insert(out.end(), {v[ip], v[i], v[in]});
      v.erase(v.begin() + std::ptrdiff_t(i));
      clipped = true;
      guard = 0;
      break;
    }
    if (!clipped) {
      ++guard;
      // No ear (numerical trouble): clip the flattest convex-ish corner to make progress.
      if (guard > 1) {
        out.insert(out.end(), {v[v.size() - 1], v[0], v[1]});
        v.erase(v.begin());
      }
    }
  }
  if (v.size() == 3 && cross(p[v[0]], p[v[1]], p[v[2]]) != 0) out.insert(out.end(), {v[0], v[1], v[2]});
}

} // namespace

std::vector<uint32_t> triangulatePolygon(const std::vector<Vec3d>& points, const std::vector<uint32_t>& outer,
                                         const std::vector<std::vector<uint32_t>>& holes) {
  std::vector<uint32_t> out;
  if (outer.size() < 3) return out;
  for (const Vec3d& q : points)
    if (!std::isfinite(q.x) || !std::isfinite(q.y) || !std::isfinite(q.z)) return out; // the caller reports it
  std::vector<P2> p;
  if (!projectToPlane(points, outer, p)) return out;
  std::vector<uint32_t> poly = outer;
  std::vector<std::vector<uint32_t>> hs = holes;
  for (auto& h : hs)
    if (signedArea(p, h) > 0) std::reverse(h.begin(), h.end());
  std::sort(hs.begin(), hs.end(), [&](const auto& a, const auto& b) {
    auto maxX = [&](const auto& h) {
      double m = -1e300;
      for (uint32_t i : h) m = std::max(m, p[i].x);
      return m;
    };
    return maxX(a) > maxX(b);
  });
  for (const auto& h : hs)
    if (h.size() >= 3) bridge(p, poly, h);
  clipEars(p, std::move(poly), out);
  return out;
}

} // namespace mx::io
