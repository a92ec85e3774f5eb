// iModel → Scene: walks each element's GeometryStream with the symbology state machine of the
// format doc (section 8), expands part instances, and tessellates the primitives it knows with
// iTwin.js exportGraphics' stroke rules (section 9), so triangle counts and areas can be compared
// with iTwin.js' own output.
#include "GeometryFlatbuffers.h"
#include "ImodelImpl.h"
#include "Triangulator.h"

#include <nlohmann/json.hpp>

#include <tbb/enumerable_thread_specific.h>
#include <tbb/task_group.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <unordered_map>
#include <variant>

namespace mx::io {

using core::Mat4d;
using core::Result;
using core::Status;
using core::Vec3d;
using nlohmann::json;

namespace {

/// Triangles in element-local (or part-local) coordinates.
struct LocalMesh {
  std::vector<Vec3d> points;
  std::vector<uint32_t> indices;
  uint32_t add(Vec3d p) { points.push_back(p); return uint32_t(points.size() - 1); }
  void tri(uint32_t a, uint32_t b, uint32_t c) { indices.insert(indices.end(), {a, b, c}); }
};

Vec3d v(const fb::DPoint3d& p) { return {p.x, p.y, p.z}; }
Vec3d cross(Vec3d a, Vec3d b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }

/// Segments for a full circle of radius r (exportGraphics: per 90° ceil((π/2)/a)).
int circleSegments(double radius, const TessellationOptions& o) {
  double a = std::min(std::max(o.angleTolerance, 1e-3), M_PI / 4);
  if (o.chordTolerance > 0 && radius > o.chordTolerance) a = std::min(a, 2 * std::acos(1 - o.chordTolerance / radius));
  // A tiny chord tolerance on a huge radius must not ask for millions of segments.
  return std::min(kMaxCircleSegments, 4 * int(std::ceil((M_PI / 2) / a)));
}

/// Refuses a primitive whose tessellation would exceed the per-primitive point budget (a hostile
/// or absurd stream must not make us allocate without bound).
Status withinBudget(size_t points, const char* what) {
  if (points <= kMaxPrimitivePoints) return Status::ok();
  return imodelFail(ImodelError::Corrupt, std::string(what) + " would need " + std::to_string(points) + " points (more than " +
                                              std::to_string(kMaxPrimitivePoints) + ")");
}

/// A disc (fan around an added centre vertex) over an existing ring.
void fan(LocalMesh& m, Vec3d center, const std::vector<uint32_t>& ring, bool flip) {
  const uint32_t c = m.add(center);
  for (size_t i = 0; i + 1 < ring.size(); ++i) flip ? m.tri(c, ring[i + 1], ring[i]) : m.tri(c, ring[i], ring[i + 1]);
}

void tessellateBox(const fb::BoxDetail& d, LocalMesh& m) {
  const Vec3d bx = v(d.vectorX) * d.baseX, by = v(d.vectorY) * d.baseY, tx = v(d.vectorX) * d.topX, ty = v(d.vectorY) * d.topY;
  const Vec3d b0 = v(d.baseOrigin), t0 = v(d.topOrigin);
  const Vec3d base[4] = {b0, b0 + bx, b0 + bx + by, b0 + by};
  const Vec3d top[4] = {t0, t0 + tx, t0 + tx + ty, t0 + ty};
  for (int i = 0; i < 4; ++i) { // sides, each a quad with its own vertices (sharp edges)
    const int j = (i + 1) % 4;
    const uint32_t a = m.add(base[i]), b = m.add(base[j]), c = m.add(top[j]), e = m.add(top[i]);
    m.tri(a, b, c);
    m.tri(a, c, e);
  }
  if (d.capped) {
    uint32_t q[4], r[4];
    for (int i = 0; i < 4; ++i) { q[i] = m.add(base[i]); r[i] = m.add(top[i]); }
    m.tri(q[0], q[2], q[1]);
    m.tri(q[0], q[3], q[2]);
    m.tri(r[0], r[1], r[2]);
    m.tri(r[0], r[2], r[3]);
  }
}

void tessellateSphere(const fb::SphereDetail& d, const TessellationOptions& o, LocalMesh& m) {
  const double* t = d.localToWorld;
  auto map = [&](double x, double y, double z) {
    return Vec3d{t[0] * x + t[1] * y + t[2] * z + t[3], t[4] * x + t[5] * y + t[6] * z + t[7], t[8] * x + t[9] * y + t[10] * z + t[11]};
  };
  const double radius = std::max({std::hypot(t[0], t[4], t[8]), std::hypot(t[1], t[5], t[9]), std::hypot(t[2], t[6], t[10])});
  const int n = circleSegments(radius, o);
  const double step = 2 * M_PI / n;
  const double lat0 = d.startLatitude, sweep = std::clamp(d.latitudeSweep, -M_PI, M_PI);
  const int bands = std::max(1, int(std::ceil(std::abs(sweep) / step - 1e-9)));
  std::vector<std::vector<uint32_t>> rings(bands + 1);
  std::vector<double> lats(bands + 1), cosI(n + 1), sinI(n + 1);
  for (int i = 0; i <= n; ++i) { cosI[i] = std::cos(i * step); sinI[i] = std::sin(i * step); }
  m.points.reserve(m.points.size() + size_t(bands + 1) * size_t(n + 1) + 2);
  m.indices.reserve(m.indices.size() + 6 * size_t(bands) * size_t(n) + 6 * size_t(n));
  for (int k = 0; k <= bands; ++k) {
    lats[k] = lat0 + sweep * k / bands;
    const double cl = std::cos(lats[k]), sl = std::sin(lats[k]);
    if (std::abs(cl) < 1e-12) { rings[k] = {m.add(map(0, 0, sl))}; continue; } // pole
    rings[k].reserve(size_t(n) + 1);
    for (int i = 0; i <= n; ++i) rings[k].push_back(m.add(map(cl * cosI[i], cl * sinI[i], sl)));
  }
  for (int k = 0; k < bands; ++k) {
    const auto &a = rings[k], &b = rings[k + 1];
    if (a.size() == 1 && b.size() == 1) continue; // pole to pole: nothing between
    for (int i = 0; i < n; ++i) {
      if (a.size() == 1) m.tri(a[0], b[i], b[i + 1]);
      else if (b.size() == 1) m.tri(a[i], a[i + 1], b[0]);
      else { m.tri(a[i], a[i + 1], b[i + 1]); m.tri(a[i], b[i + 1], b[i]); }
    }
  }
  if (d.capped) { // close a partial band with planar discs
    if (rings.front().size() > 1) fan(m, map(0, 0, std::sin(lats.front())), rings.front(), true);
    if (rings.back().size() > 1) fan(m, map(0, 0, std::sin(lats.back())), rings.back(), false);
  }
}

void tessellateCone(const fb::ConeDetail& d, const TessellationOptions& o, LocalMesh& m) {
  const Vec3d a = v(d.centerA), b = v(d.centerB), v0 = v(d.vector0), v90 = v(d.vector90);
  const int n = circleSegments(std::max(d.radiusA, d.radiusB), o);
  const double step = 2 * M_PI / n;
  auto ring = [&](Vec3d c, double r) {
    std::vector<uint32_t> ids;
    if (r == 0) return std::vector<uint32_t>{m.add(c)};
    for (int i = 0; i <= n; ++i) ids.push_back(m.add(c + (v0 * std::cos(i * step) + v90 * std::sin(i * step)) * r));
    return ids;
  };
  const auto ra = ring(a, d.radiusA), rb = ring(b, d.radiusB);
  if (ra.size() == 1 && rb.size() == 1) return; // both radii 0: a line, no surface
  for (int i = 0; i < n; ++i) {
    if (ra.size() == 1) m.tri(ra[0], rb[i], rb[i + 1]);
    else if (rb.size() == 1) m.tri(ra[i], ra[i + 1], rb[0]);
    else { m.tri(ra[i], ra[i + 1], rb[i + 1]); m.tri(ra[i], rb[i + 1], rb[i]); }
  }
  if (d.capped) {
    if (ra.size() > 1) fan(m, a, ring(a, d.radiusA), true);
    if (rb.size() > 1) fan(m, b, ring(b, d.radiusB), false);
  }
}

void tessellateTorus(const fb::TorusDetail& d, const TessellationOptions& o, LocalMesh& m) {
  const Vec3d c = v(d.center), x = v(d.vectorX), y = v(d.vectorY);
  const Vec3d axis = cross(x, y);
  const int nMinor = circleSegments(d.minorRadius, o);
  const int nFull = circleSegments(d.majorRadius + d.minorRadius, o);
  const double sweep = std::clamp(d.sweep, -2 * M_PI, 2 * M_PI);
  const int nMajor = std::max(1, int(std::ceil(std::abs(sweep) / (2 * M_PI / nFull) - 1e-9)));
  std::vector<std::vector<uint32_t>> rings(nMajor + 1);
  std::vector<double> cosPh(nMinor + 1), sinPh(nMinor + 1);
  for (int i = 0; i <= nMinor; ++i) {
    const double ph = 2 * M_PI * i / nMinor;
    cosPh[i] = std::cos(ph);
    sinPh[i] = std::sin(ph);
  }
  m.points.reserve(m.points.size() + size_t(nMajor + 1) * size_t(nMinor + 1));
  m.indices.reserve(m.indices.size() + 6 * size_t(nMajor) * size_t(nMinor) + 6 * size_t(nMinor));
  for (int j = 0; j <= nMajor; ++j) {
    const double th = sweep * j / nMajor;
    const Vec3d radial = x * std::cos(th) + y * std::sin(th);
    rings[j].reserve(size_t(nMinor) + 1);
    for (int i = 0; i <= nMinor; ++i)
      rings[j].push_back(m.add(c + radial * (d.majorRadius + d.minorRadius * cosPh[i]) + axis * (d.minorRadius * sinPh[i])));
  }
  for (int j = 0; j < nMajor; ++j)
    for (int i = 0; i < nMinor; ++i) {
      m.tri(rings[j][i], rings[j + 1][i], rings[j + 1][i + 1]);
      m.tri(rings[j][i], rings[j + 1][i + 1], rings[j][i + 1]);
    }
  if (d.capped && std::abs(sweep) < 2 * M_PI - 1e-9) { // end discs as polygons (n − 2 triangles)
    for (int end : {0, nMajor})
      for (int i = 1; i + 1 < nMinor; ++i) end == 0 ? m.tri(rings[0][0], rings[0][i + 1], rings[0][i])
                                                    : m.tri(rings[end][0], rings[end][i], rings[end][i + 1]);
  }
}

/// Faces of any size, fanned; 1-based signed indices, 0-terminated faces (or fixed blocks).
Status tessellatePolyface(const fb::Polyface& p, LocalMesh& m) {
  const auto* pts = p.point();
  const auto* idx = p.pointIndex();
  if (!pts || !idx || pts->size() % 3) return {core::ErrorCode::MalformedInput, "polyface without points or indices"};
  const uint32_t base = uint32_t(m.points.size());
  const size_t np = pts->size() / 3;
  for (size_t i = 0; i < np; ++i) m.points.push_back({pts->Get(uint32_t(3 * i)), pts->Get(uint32_t(3 * i + 1)), pts->Get(uint32_t(3 * i + 2))});
  std::vector<uint32_t> face;
  auto flush = [&]() -> Status {
    for (size_t k = 1; k + 1 < face.size(); ++k) m.tri(base + face[0], base + face[k], base + face[k + 1]);
    face.clear();
    return Status::ok();
  };
  const int perFace = p.numPerFace();
  for (uint32_t k = 0; k < idx->size(); ++k) {
    const int32_t raw = idx->Get(k);
    if (raw != 0) {
      const uint32_t i = uint32_t(std::abs(int64_t(raw)) - 1);
      if (i >= np) return {core::ErrorCode::MalformedInput, "polyface index " + std::to_string(raw) + " beyond " + std::to_string(np) + " points"};
      face.push_back(i);
    }
    if (perFace <= 1 ? raw == 0 : (k + 1) % uint32_t(perFace) == 0) flush();
  }
  return flush();
}

// ---- planar regions and extrusions ---------------------------------------------------------

/// Points of an elliptic arc: start to start + sweep, segments scaled from the full-circle count.
std::vector<Vec3d> strokeArc(Vec3d c, Vec3d v0, Vec3d v90, double start, double sweep, const TessellationOptions& o) {
  for (double x : {c.x, c.y, c.z, v0.x, v0.y, v0.z, v90.x, v90.y, v90.z, start, sweep})
    if (!std::isfinite(x)) return {}; // a damaged arc draws nothing
  sweep = std::clamp(sweep, -2 * M_PI, 2 * M_PI); // more than a full turn draws nothing new
  const int n = circleSegments(std::max(core::length(v0), core::length(v90)), o);
  const int segs = std::max(1, int(std::ceil(std::abs(sweep) / (2 * M_PI / n) - 1e-9)));
  std::vector<Vec3d> pts;
  for (int i = 0; i <= segs; ++i) {
    const double t = start + sweep * i / segs;
    pts.push_back(c + v0 * std::cos(t) + v90 * std::sin(t));
  }
  return pts;
}

bool fullSweep(double sweep) { return std::abs(std::abs(sweep) - 2 * M_PI) < 1e-9; }

/// One planar area: an outer loop, holes, and, for a lone full ellipse, its centre (discs are
/// fans around the centre, as exportGraphics makes them).
struct Region {
  std::vector<Vec3d> outer;
  std::vector<std::vector<Vec3d>> holes;
  std::optional<Vec3d> discCenter;
};

void appendPoints(std::vector<Vec3d>& loop, const std::vector<Vec3d>& pts) {
  for (const Vec3d& q : pts)
    if (loop.empty() || core::length(loop.back() - q) > 1e-12) loop.push_back(q);
}

Status strokeBsplineCurve(const fb::BsplineCurve& c, const TessellationOptions& o, std::vector<Vec3d>& out);

/// Strokes a loop (boundary type 2/3) or path (1) into points; the closing duplicate is dropped.
Status strokeCurves(const fb::CurveVector& cv, const TessellationOptions& o, std::vector<Vec3d>& loop, std::optional<Vec3d>* disc) {
  const auto* curves = cv.curves();
  if (!curves) return Status::ok();
  for (uint32_t k = 0; k < curves->size(); ++k) {
    const fb::VariantGeometry* g = curves->Get(k);
    switch (g->type()) {
    case fb::kLineSegment: {
      const auto* seg = g->as<fb::LineSegment>() ? g->as<fb::LineSegment>()->segment() : nullptr;
      if (seg) appendPoints(loop, {v(seg->p0), v(seg->p1)});
      break;
    }
    case fb::kLineString: {
      const auto* pts = g->as<fb::LineString>() ? g->as<fb::LineString>()->points() : nullptr;
      if (!pts || pts->size() % 3) return imodelFail(ImodelError::Corrupt, "line string point count is not a multiple of 3");
      std::vector<Vec3d> q;
      for (uint32_t i = 0; i + 2 < pts->size(); i += 3) q.push_back({pts->Get(i), pts->Get(i + 1), pts->Get(i + 2)});
      appendPoints(loop, q);
      break;
    }
    case fb::kEllipticArc: {
      const auto* arc = g->as<fb::EllipticArc>() ? g->as<fb::EllipticArc>()->arc() : nullptr;
      if (!arc) break;
      if (disc && curves->size() == 1 && fullSweep(arc->sweep)) *disc = v(arc->center);
      appendPoints(loop, strokeArc(v(arc->center), v(arc->vector0), v(arc->vector90), arc->start, arc->sweep, o));
      break;
    }
    case fb::kBsplineCurve: {
      const auto* c = g->as<fb::BsplineCurve>();
      if (!c) break;
      std::vector<Vec3d> q;
      MX_RETURN_IF_ERROR(strokeBsplineCurve(*c, o, q));
      appendPoints(loop, q);
      break;
    }
    default: return imodelFail(ImodelError::Corrupt, "unsupported curve type " + std::to_string(g->type()) + " in a loop");
    }
  }
  if (loop.size() > 1 && core::length(loop.front() - loop.back()) < 1e-9) loop.pop_back();
  return Status::ok();
}

/// The areas of a CurveVector (types 2–5); paths and bags give none.
Status regionsOf(const fb::CurveVector& cv, const TessellationOptions& o, std::vector<Region>& out) {
  const int type = cv.boundaryType();
  if (type == 2 || type == 3) {
    Region r;
    MX_RETURN_IF_ERROR(strokeCurves(cv, o, r.outer, &r.discCenter));
    if (r.outer.size() >= 3) out.push_back(std::move(r));
    return Status::ok();
  }
  if (type == 4 || type == 5) {
    const auto* curves = cv.curves();
    if (!curves) return Status::ok();
    Region parity;
    for (uint32_t k = 0; k < curves->size(); ++k) {
      const fb::VariantGeometry* g = curves->Get(k);
      if (g->type() != fb::kCurveVector || !g->as<fb::CurveVector>())
        return imodelFail(ImodelError::Corrupt, "region member is not a loop");
      const fb::CurveVector& child = *g->as<fb::CurveVector>();
      if (type == 5) { // union: each member meshed on its own
        MX_RETURN_IF_ERROR(regionsOf(child, o, out));
        continue;
      }
      std::vector<Vec3d> loop;
      MX_RETURN_IF_ERROR(strokeCurves(child, o, loop, nullptr));
      if (loop.size() < 3) continue;
      if (parity.outer.empty()) parity.outer = std::move(loop);
      else parity.holes.push_back(std::move(loop));
    }
    if (type == 4 && parity.outer.size() >= 3) out.push_back(std::move(parity));
  }
  return Status::ok();
}

/// Triangles of a region; `offset` translates it (extrusion caps), `flip` reverses the faces.
void meshRegion(const Region& r, LocalMesh& m, Vec3d offset = {}, bool flip = false) {
  if (r.discCenter && r.holes.empty()) {
    std::vector<uint32_t> ring;
    for (const Vec3d& q : r.outer) ring.push_back(m.add(q + offset));
    ring.push_back(ring.front());
    fan(m, *r.discCenter + offset, ring, flip);
    return;
  }
  std::vector<Vec3d> pts;
  std::vector<uint32_t> outer;
  std::vector<std::vector<uint32_t>> holes;
  for (const Vec3d& q : r.outer) { outer.push_back(uint32_t(pts.size())); pts.push_back(q + offset); }
  for (const auto& h : r.holes) {
    holes.emplace_back();
    for (const Vec3d& q : h) { holes.back().push_back(uint32_t(pts.size())); pts.push_back(q + offset); }
  }
  const std::vector<uint32_t> tris = triangulatePolygon(pts, outer, holes);
  const uint32_t base = uint32_t(m.points.size());
  m.points.insert(m.points.end(), pts.begin(), pts.end());
  for (size_t t = 0; t + 2 < tris.size(); t += 3)
    flip ? m.tri(base + tris[t], base + tris[t + 2], base + tris[t + 1]) : m.tri(base + tris[t], base + tris[t + 1], base + tris[t + 2]);
}

/// Walls along a loop (closed) or path, each edge a quad with its own vertices.
void meshWalls(const std::vector<Vec3d>& pts, bool closed, Vec3d dir, LocalMesh& m) {
  const size_t edges = closed ? pts.size() : pts.size() - 1;
  for (size_t i = 0; i < edges; ++i) {
    const Vec3d a = pts[i], b = pts[(i + 1) % pts.size()];
    const uint32_t ia = m.add(a), ib = m.add(b), ic = m.add(b + dir), id = m.add(a + dir);
    m.tri(ia, ib, ic);
    m.tri(ia, ic, id);
  }
}

Status meshExtrusion(const fb::DgnExtrusion& e, const TessellationOptions& o, LocalMesh& m) {
  const fb::CurveVector* base = e.baseCurve();
  const fb::DPoint3d* dv = e.vector();
  if (!base || !dv) return imodelFail(ImodelError::Corrupt, "extrusion without a base curve or vector");
  const Vec3d dir = v(*dv);
  if (base->boundaryType() <= 1) { // open path: walls only
    std::vector<Vec3d> path;
    MX_RETURN_IF_ERROR(strokeCurves(*base, o, path, nullptr));
    if (path.size() >= 2) meshWalls(path, false, dir, m);
    return Status::ok();
  }
  std::vector<Region> regions;
  MX_RETURN_IF_ERROR(regionsOf(*base, o, regions));
  for (const Region& r : regions) {
    meshWalls(r.outer, true, dir, m);
    for (const auto& h : r.holes) meshWalls(h, true, dir, m);
    if (e.capped()) {
      meshRegion(r, m, {}, true);
      meshRegion(r, m, dir, false);
    }
  }
  return Status::ok();
}

/// The profile of a sweep: closed loops (with holes, for caps) or one open path.
struct Profile {
  std::vector<Region> regions;
  std::vector<Vec3d> path;
};

Status profileOf(const fb::CurveVector& cv, const TessellationOptions& o, Profile& out) {
  if (cv.boundaryType() <= 1) return strokeCurves(cv, o, out.path, nullptr);
  return regionsOf(cv, o, out.regions);
}

/// Rodrigues: `p` rotated by `angle` about the line through `origin` along unit `dir`.
Vec3d rotate(Vec3d p, Vec3d origin, Vec3d dir, double angle) {
  const Vec3d v0 = p - origin;
  const double c = std::cos(angle), s = std::sin(angle);
  const double d = v0.x * dir.x + v0.y * dir.y + v0.z * dir.z;
  return origin + v0 * c + cross(dir, v0) * s + dir * (d * (1 - c));
}

Status meshRotationalSweep(const fb::DgnRotationalSweep& r, const TessellationOptions& o, LocalMesh& m) {
  const fb::CurveVector* base = r.baseCurve();
  const fb::DRay3d* axis = r.axis();
  if (!base || !axis) return imodelFail(ImodelError::Corrupt, "rotational sweep without a profile or axis");
  const Vec3d origin = v(axis->origin);
  Vec3d dir = v(axis->direction);
  const double len = core::length(dir);
  const double sweep = std::clamp(r.sweep(), -2 * M_PI, 2 * M_PI);
  if (!(len > 0) || !std::isfinite(len) || !std::isfinite(sweep)) return imodelFail(ImodelError::Corrupt, "rotational sweep with a bad axis or angle");
  dir = dir * (1 / len);
  Profile profile;
  MX_RETURN_IF_ERROR(profileOf(*base, o, profile));
  auto radius = [&](Vec3d p) {
    const Vec3d v0 = p - origin;
    return core::length(cross(v0, dir));
  };
  double maxRadius = 0;
  auto each = [&](auto&& fn) {
    for (const Region& rg : profile.regions) {
      fn(rg.outer, true);
      for (const auto& h : rg.holes) fn(h, true);
    }
    if (profile.path.size() >= 2) fn(profile.path, false);
  };
  size_t profilePoints = 0;
  each([&](const std::vector<Vec3d>& pts, bool) {
    for (const Vec3d& p : pts) maxRadius = std::max(maxRadius, radius(p));
    profilePoints += pts.size();
  });
  const int n = circleSegments(maxRadius, o);
  const int steps = std::max(1, int(std::ceil(std::abs(sweep) / (2 * M_PI / n) - 1e-9)));
  MX_RETURN_IF_ERROR(withinBudget(profilePoints * size_t(steps + 1), "rotational sweep"));
  const double onAxis = 1e-9 * std::max(1.0, maxRadius);
  each([&](const std::vector<Vec3d>& pts, bool closed) {
    const size_t edges = closed ? pts.size() : pts.size() - 1;
    for (size_t i = 0; i < edges; ++i) {
      const Vec3d a = pts[i], b = pts[(i + 1) % pts.size()];
      const bool aAxis = radius(a) <= onAxis, bAxis = radius(b) <= onAxis;
      if (aAxis && bAxis) continue;
      for (int j = 0; j < steps; ++j) {
        const double t0 = sweep * j / steps, t1 = sweep * (j + 1) / steps;
        const Vec3d a0 = rotate(a, origin, dir, t0), a1 = rotate(a, origin, dir, t1);
        const Vec3d b0 = rotate(b, origin, dir, t0), b1 = rotate(b, origin, dir, t1);
        if (aAxis) m.tri(m.add(a0), m.add(b0), m.add(b1));
        else if (bAxis) m.tri(m.add(a0), m.add(b0), m.add(a1));
        else {
          const uint32_t ia = m.add(a0), ib = m.add(b0), ic = m.add(b1), id = m.add(a1);
          m.tri(ia, ib, ic);
          m.tri(ia, ic, id);
        }
      }
    }
  });
  if (r.capped() && std::abs(sweep) < 2 * M_PI - 1e-9) {
    for (const Region& rg : profile.regions) {
      meshRegion(rg, m, {}, true);
      Region end = rg;
      for (Vec3d& p : end.outer) p = rotate(p, origin, dir, sweep);
      for (auto& h : end.holes)
        for (Vec3d& p : h) p = rotate(p, origin, dir, sweep);
      if (end.discCenter) end.discCenter = rotate(*end.discCenter, origin, dir, sweep);
      meshRegion(end, m, {}, false);
    }
  }
  return Status::ok();
}

/// The order basis functions that are non-zero at t in knot span s (The NURBS Book, A2.2).
void basisFunctions(const std::vector<double>& knots, int order, int s, double t, double* out) {
  const int p = order - 1;
  double left[32], right[32];
  out[0] = 1;
  for (int j = 1; j <= p; ++j) {
    left[j] = t - knots[size_t(s + 1 - j)];
    right[j] = knots[size_t(s + j)] - t;
    double saved = 0;
    for (int r = 0; r < j; ++r) {
      const double den = right[r + 1] + left[j - r];
      const double temp = den != 0 ? out[r] / den : 0;
      out[r] = saved + right[r + 1] * temp;
      saved = left[j - r] * temp;
    }
    out[j] = saved;
  }
}

/// The span s (order-1 ≤ s ≤ n-1) with knots[s] ≤ t < knots[s+1]; the last span takes its end.
int findSpan(const std::vector<double>& knots, int order, int n, double t) {
  int s = order - 1;
  while (s < n - 1 && t >= knots[size_t(s + 1)]) ++s;
  return s;
}

/// Parameters of one direction's grid lines: each non-empty knot span is divided into
/// max(1, ceil(turn / angleTolerance)) + extra equal steps, turn = the largest turning of the
/// control polygon over that span's poles among all rows. Curves (extra 0) give exportGraphics'
/// stroke counts on the extras fixture; surfaces need extra 1 to give its 8 × 8 quads on the
/// primitives fixture.
std::vector<double> gridParameters(const std::vector<Vec3d>& poles, int n, int m, bool alongU,
                                   const std::vector<double>& knots, int order, const TessellationOptions& o,
                                   int extra) {
  const double a = std::min(std::max(o.angleTolerance, 1e-3), M_PI / 4);
  std::vector<double> params;
  auto pole = [&](int i, int row) { return alongU ? poles[size_t(row * n + i)] : poles[size_t(i * m + row)]; };
  for (int s = order - 1; s < n; ++s) {
    const double t0 = knots[size_t(s)], t1 = knots[size_t(s + 1)];
    if (!(t1 > t0)) continue;
    double turn = 0;
    for (int row = 0; row < m; ++row) {
      double sum = 0;
      for (int i = s - order + 2; i < s; ++i) {
        const Vec3d d0 = pole(i, row) - pole(i - 1, row), d1 = pole(i + 1, row) - pole(i, row);
        const double l0 = core::length(d0), l1 = core::length(d1);
        if (l0 <= 0 || l1 <= 0) continue;
        const double c = std::clamp((d0.x * d1.x + d0.y * d1.y + d0.z * d1.z) / (l0 * l1), -1.0, 1.0);
        sum += std::acos(c);
      }
      turn = std::max(turn, sum);
    }
    const int steps = std::min(256, std::max(1, int(std::ceil(turn / a - 1e-9))) + extra);
    for (int k = params.empty() ? 0 : 1; k <= steps; ++k) params.push_back(t0 + (t1 - t0) * k / steps);
    if (params.size() > kMaxPrimitivePoints) break; // the caller refuses it (withinBudget)
  }
  return params;
}

/// Knots finite and non-decreasing.
bool validKnots(const std::vector<double>& k) {
  for (size_t i = 0; i < k.size(); ++i)
    if (!std::isfinite(k[i]) || (i > 0 && k[i] < k[i - 1])) return false;
  return true;
}

/// Poles of a B-spline (rational or not): as stored (homogeneous: xyz multiplied by the weight),
/// cartesian, and the weights (1 when not rational).
struct Poles {
  std::vector<Vec3d> hom, cart;
  std::vector<double> weights;
  bool rational = false;
};

/// Reads `count` poles (3 doubles each, sizes already checked) and their weights; `what` names the
/// geometry in the error when a pole is not finite or a weight is not positive.
Result<Poles> readPoles(const flatbuffers::Vector<double>& xyz, const flatbuffers::Vector<double>* w, size_t count, const char* what) {
  Poles p;
  p.rational = w && w->size() != 0;
  p.hom.resize(count);
  p.cart.resize(count);
  p.weights.assign(count, 1.0);
  for (size_t i = 0; i < count; ++i) {
    p.hom[i] = {xyz.Get(uint32_t(3 * i)), xyz.Get(uint32_t(3 * i + 1)), xyz.Get(uint32_t(3 * i + 2))};
    if (p.rational) p.weights[i] = w->Get(uint32_t(i));
    const Vec3d& h = p.hom[i];
    if (!std::isfinite(h.x) || !std::isfinite(h.y) || !std::isfinite(h.z) || !(p.weights[i] > 0) || !std::isfinite(p.weights[i]))
      return imodelFail(ImodelError::Corrupt, std::string(what) + " with a non-finite pole or a weight ≤ 0");
    p.cart[i] = h * (1 / p.weights[i]);
  }
  return p;
}

/// A B-spline curve (rational or not) stroked with the grid rule of the surfaces.
Status strokeBsplineCurve(const fb::BsplineCurve& c, const TessellationOptions& o, std::vector<Vec3d>& out) {
  const int order = c.order();
  const auto* poles = c.poles();
  const auto* knotsIn = c.knots();
  const auto* w = c.weights();
  const int n = poles ? int(poles->size() / 3) : 0;
  if (order < 2 || order > 26 || !poles || poles->size() % 3 || n < order || n > (1 << 22) || !knotsIn ||
      knotsIn->size() != size_t(n + order) || (w && w->size() != 0 && w->size() != size_t(n)))
    return imodelFail(ImodelError::Corrupt, "B-spline curve whose order, poles, weights or knots do not match");
  const std::vector<double> knots(knotsIn->begin(), knotsIn->end());
  if (!validKnots(knots)) return imodelFail(ImodelError::Corrupt, "B-spline curve knots are not finite and non-decreasing");
  MX_ASSIGN_OR_RETURN(const Poles p, readPoles(*poles, w, size_t(n), "B-spline curve"));
  double basis[32];
  const std::vector<double> ts = gridParameters(p.cart, n, 1, true, knots, order, o, 0);
  MX_RETURN_IF_ERROR(withinBudget(out.size() + ts.size(), "B-spline curve"));
  for (double t : ts) {
    const int s = findSpan(knots, order, n, t);
    basisFunctions(knots, order, s, t, basis);
    Vec3d q{0, 0, 0};
    double wsum = 0;
    for (int i = 0; i < order; ++i) {
      q = q + p.hom[size_t(s - order + 1 + i)] * basis[i];
      wsum += basis[i] * p.weights[size_t(s - order + 1 + i)];
    }
    out.push_back(q * (1 / (p.rational ? wsum : 1.0)));
  }
  return Status::ok();
}

/// An untrimmed B-spline surface (rational or not) as a grid of triangles.
Status meshBsplineSurface(const fb::BsplineSurface& s, const TessellationOptions& o, LocalMesh& m) {
  const int nu = s.numPolesU(), nv = s.numPolesV(), ku = s.orderU(), kv = s.orderV();
  if (ku < 2 || kv < 2 || ku > 26 || kv > 26 || nu < ku || nv < kv || int64_t(nu) * nv > (int64_t(1) << 22))
    return imodelFail(ImodelError::Corrupt, "B-spline surface with impossible pole counts or orders");
  const auto* poles = s.poles();
  const auto* ku_ = s.knotsU();
  const auto* kv_ = s.knotsV();
  const auto* w = s.weights();
  if (!poles || poles->size() != size_t(3) * size_t(nu) * size_t(nv) || !ku_ || ku_->size() != size_t(nu + ku) || !kv_ ||
      kv_->size() != size_t(nv + kv) || (w && w->size() != 0 && w->size() != size_t(nu) * size_t(nv)))
    return imodelFail(ImodelError::Corrupt, "B-spline surface whose poles, weights or knots do not match its counts");
  std::vector<double> knotsU(ku_->begin(), ku_->end()), knotsV(kv_->begin(), kv_->end());
  if (!validKnots(knotsU) || !validKnots(knotsV))
    return imodelFail(ImodelError::Corrupt, "B-spline surface knots are not finite and non-decreasing");
  MX_ASSIGN_OR_RETURN(const Poles pl, readPoles(*poles, w, size_t(nu) * size_t(nv), "B-spline surface"));
  const std::vector<double> us = gridParameters(pl.cart, nu, nv, true, knotsU, ku, o, 1);
  const std::vector<double> vs = gridParameters(pl.cart, nv, nu, false, knotsV, kv, o, 1);
  if (us.size() < 2 || vs.size() < 2) return Status::ok(); // degenerate knots: nothing to draw
  MX_RETURN_IF_ERROR(withinBudget(us.size() * vs.size(), "B-spline surface"));
  const uint32_t base = uint32_t(m.points.size());
  double bu[32], bv[32];
  for (double vv : vs) {
    const int sv = findSpan(knotsV, kv, nv, vv);
    basisFunctions(knotsV, kv, sv, vv, bv);
    for (double uu : us) {
      const int su = findSpan(knotsU, ku, nu, uu);
      basisFunctions(knotsU, ku, su, uu, bu);
      Vec3d p{0, 0, 0};
      double wsum = 0;
      for (int j = 0; j < kv; ++j)
        for (int i = 0; i < ku; ++i) {
          const size_t idx = size_t(sv - kv + 1 + j) * size_t(nu) + size_t(su - ku + 1 + i);
          const double b = bu[i] * bv[j];
          p = p + pl.hom[idx] * b;
          wsum += b * pl.weights[idx];
        }
      m.add(p * (1 / (pl.rational ? wsum : 1.0)));
    }
  }
  const uint32_t cols = uint32_t(us.size());
  for (uint32_t b = 0; b + 1 < vs.size(); ++b)
    for (uint32_t a = 0; a + 1 < cols; ++a) {
      const uint32_t p00 = base + b * cols + a, p10 = p00 + 1, p01 = p00 + cols, p11 = p01 + 1;
      m.tri(p00, p10, p11);
      m.tri(p00, p11, p01);
    }
  return Status::ok();
}

Status meshRuledSweep(const fb::DgnRuledSweep& r, const TessellationOptions& o, LocalMesh& m) {
  const auto* sections = r.curves();
  if (!sections || sections->size() < 2) return imodelFail(ImodelError::Corrupt, "ruled sweep with fewer than two sections");
  std::vector<Profile> profiles(sections->size());
  for (uint32_t k = 0; k < sections->size(); ++k) MX_RETURN_IF_ERROR(profileOf(*sections->Get(k), o, profiles[k]));
  for (size_t k = 0; k + 1 < profiles.size(); ++k) {
    const Profile &a = profiles[k], &b = profiles[k + 1];
    auto rule = [&](const std::vector<Vec3d>& pa, const std::vector<Vec3d>& pb, bool closed) -> Status {
      if (pa.size() != pb.size()) return imodelFail(ImodelError::Corrupt, "ruled sweep sections do not match");
      const size_t edges = closed ? pa.size() : pa.size() - 1;
      for (size_t i = 0; i < edges; ++i) {
        const size_t j = (i + 1) % pa.size();
        const uint32_t i0 = m.add(pa[i]), i1 = m.add(pa[j]), i2 = m.add(pb[j]), i3 = m.add(pb[i]);
        m.tri(i0, i1, i2);
        m.tri(i0, i2, i3);
      }
      return Status::ok();
    };
    if (a.regions.size() != b.regions.size()) return imodelFail(ImodelError::Corrupt, "ruled sweep sections do not match");
    for (size_t g = 0; g < a.regions.size(); ++g) {
      MX_RETURN_IF_ERROR(rule(a.regions[g].outer, b.regions[g].outer, true));
      if (a.regions[g].holes.size() != b.regions[g].holes.size()) return imodelFail(ImodelError::Corrupt, "ruled sweep sections do not match");
      for (size_t h = 0; h < a.regions[g].holes.size(); ++h) MX_RETURN_IF_ERROR(rule(a.regions[g].holes[h], b.regions[g].holes[h], true));
    }
    if (a.path.size() >= 2) MX_RETURN_IF_ERROR(rule(a.path, b.path, false));
  }
  if (r.capped()) {
    for (const Region& rg : profiles.front().regions) meshRegion(rg, m, {}, true);
    for (const Region& rg : profiles.back().regions) meshRegion(rg, m, {}, false);
  }
  return Status::ok();
}

template <typename D>
bool finiteDoubles(const D* d, size_t count) {
  if (!d) return true;
  double x[32];
  std::memcpy(x, d, count * sizeof(double));
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

/// Every number of a solid's detail is finite and its radii are not negative.
bool finiteDetail(const fb::VariantGeometry& g) {
  switch (g.type()) {
  case fb::kBox: return finiteDoubles(g.as<fb::DetailTable<fb::BoxDetail>>()->detail(), 16);
  case fb::kSphere: return finiteDoubles(g.as<fb::DetailTable<fb::SphereDetail>>()->detail(), 14);
  case fb::kCone: {
    const auto* d = g.as<fb::DetailTable<fb::ConeDetail>>()->detail();
    return finiteDoubles(d, 14) && d->radiusA >= 0 && d->radiusB >= 0;
  }
  case fb::kTorusPipe: {
    const auto* d = g.as<fb::DetailTable<fb::TorusDetail>>()->detail();
    return finiteDoubles(d, 12) && d->majorRadius >= 0 && d->minorRadius >= 0;
  }
  default: return true;
  }
}

struct Appearance {
  uint32_t color = 0;            ///< tbgr (T ignored)
  double transparency = 0;
  uint64_t material = 0;
  bool invisible = false;
};

struct RenderMaterial {
  bool hasColor = false;
  double rgb[3] = {0, 0, 0};
  bool hasTransmit = false;
  double transmit = 0;
};

uint64_t parseId(const json& j) {
  if (j.is_string()) return std::strtoull(j.get<std::string>().c_str(), nullptr, 0);
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  return 0;
}

// ---- Recording and replaying streams ----------------------------------------------------------
// A walk over a GeometryStream records what it found as events; replaying them with an element's
// symbology state gives colours, triangles and stats. A geometry part is walked (decoded,
// tessellated) once per builder, however often it is instanced, and becomes shared meshes.

struct PartGeometry;

struct SymbologyEvent {
  uint64_t subCategory = 0;          ///< 0 = keep the current one.
  std::optional<uint32_t> color;     ///< tbgr override.
  double transparency = 0;
};
struct MaterialEvent { uint64_t material = 0; };
struct PieceEvent {
  LocalMesh mesh;                    ///< In the walked stream's coordinates.
  double area = 0;                   ///< Of `mesh`, in those coordinates (a part's pieces only).
};
struct SkipEvent { std::string kind; };
struct InstanceEvent {
  std::shared_ptr<const PartGeometry> part;
  Mat4d transform = core::identityMatrix(); ///< Part → the walked stream's coordinates.
};
using Event = std::variant<SymbologyEvent, MaterialEvent, PieceEvent, SkipEvent, InstanceEvent>;

struct PartGeometry {
  uint64_t id = 0;
  std::vector<Event> events;
  Status error;                      ///< Why the part's stream could not be decoded.
};

/// The symbology state machine's state (format doc section 8); it carries over across part
/// instances of one element.
struct State {
  uint64_t subCategory = 0;
  std::optional<uint32_t> colorOverride;
  double elementTransparency = 0;
  std::optional<uint64_t> materialOverride;
};

/// One element's result, before it joins the Scene.
struct ElementOut {
  struct WorldMesh {
    std::vector<Vec3d> points;
    std::vector<uint32_t> indices;
  };
  /// Pieces of one part drawn with one colour: a shared mesh (part id + piece event indices)
  /// placed at `transform`.
  struct Instance {
    std::shared_ptr<const PartGeometry> part;
    std::vector<uint32_t> pieces;
    Mat4d transform;
    uint32_t rgba = 0;
  };
  ElementGeometryStats stats;
  std::map<uint32_t, WorldMesh> meshes; ///< The element's own geometry by RGBA, world coordinates.
  std::vector<Instance> instances;
  std::optional<uint64_t> firstSubCategory;
};

double triangleArea(Vec3d a, Vec3d b, Vec3d c) { return 0.5 * core::length(cross(b - a, c - a)); }

/// Area scale of a similarity transform (rotations, uniform scale, translation): |det|^(2/3).
double areaScale(const Mat4d& m) { return std::pow(std::abs(core::cofactor3(m).det), 2.0 / 3.0); }

/// The GeometryStream-decoding state of one thread: its own SQLite connection (null when decoding
/// a lone blob) and caches of sub-category appearances, render materials and parts.
class SceneBuilder {
public:
  struct Columns {
    std::optional<std::pair<std::string, std::string>> subCategory, part;
  };

  SceneBuilder(const sqlite::Db* db, Columns columns, const TessellationOptions& o) : _db(db), _columns(std::move(columns)), _o(o) {}

  Result<ElementGeometryStats> one(std::span<const uint8_t> blob) {
    ElementOut out;
    _stats = &out.stats;
    std::vector<Event> events;
    MX_RETURN_IF_ERROR(walk(blob, events, 0));
    State state;
    MX_RETURN_IF_ERROR(replay(events, core::identityMatrix(), state, out, nullptr));
    return std::move(out.stats);
  }

  /// Decodes one element; a damaged stream is reported in the element's stats, not returned.
  /// Returns an error only when the file cannot be read.
  Status element(const ElementRecord& e, ElementOut& out) {
    if (!_blobStmt) {
      MX_ASSIGN_OR_RETURN(sqlite::Statement s, _db->prepare("SELECT GeometryStream FROM bis_GeometricElement3d WHERE ElementId=?"));
      _blobStmt = std::move(s);
    }
    MX_RETURN_IF_ERROR(_blobStmt->reset());
    MX_RETURN_IF_ERROR(_blobStmt->bind(1, int64_t(e.id)));
    if (_blobStmt->step() != sqlite::StepResult::Row) return imodelCorrupt(_blobStmt->error());
    _stats = &out.stats;
    _elementBox = e.localBox;
    _subGraphicRange.reset();
    _keepRange = false;
    std::vector<Event> events;
    State state;
    state.subCategory = e.category + 1; // the default sub-category
    Status s = walk(_blobStmt->getBlob(0), events, 0);
    if (s) s = replay(events, e.placement, state, out, nullptr);
    if (!s) {
      out.stats.error = s.message();
      out.stats.triangles = 0;
      out.stats.area = 0;
      out.stats.colors.clear();
      out.meshes.clear();
      out.instances.clear();
    }
    return Status::ok();
  }

private:
  Result<Appearance> appearance(uint64_t subCategory) {
    if (auto it = _appearances.find(subCategory); it != _appearances.end()) return it->second;
    Appearance a;
    if (_db && _columns.subCategory) {
      MX_ASSIGN_OR_RETURN(sqlite::Statement s, _db->prepare("SELECT " + _columns.subCategory->second + " FROM " + _columns.subCategory->first + " WHERE ElementId=?"));
      MX_RETURN_IF_ERROR(s.bind(1, int64_t(subCategory)));
      if (s.step() == sqlite::StepResult::Row) {
        const json j = json::parse(s.getText(0), nullptr, false);
        if (j.is_object()) {
          a.color = jsonGet<uint32_t>(j, "color", 0u);
          a.transparency = jsonGet<double>(j, "transp", 0.0);
          a.material = j.contains("material") ? parseId(j["material"]) : 0;
          a.invisible = jsonGet<bool>(j, "invisible", false);
        }
      }
    }
    return _appearances[subCategory] = a;
  }

  Result<RenderMaterial> material(uint64_t id) {
    if (auto it = _materials.find(id); it != _materials.end()) return it->second;
    RenderMaterial m;
    if (!_db) return _materials[id] = m;
    MX_ASSIGN_OR_RETURN(sqlite::Statement s, _db->prepare("SELECT JsonProperties FROM bis_Element WHERE Id=?"));
    MX_RETURN_IF_ERROR(s.bind(1, int64_t(id)));
    if (s.step() == sqlite::StepResult::Row) {
      const json j = json::parse(s.getText(0), nullptr, false);
      const json assets = j.is_object() && j.contains("materialAssets") ? j["materialAssets"] : json::object();
      const json r = assets.is_object() && assets.contains("renderMaterial") ? assets["renderMaterial"] : json::object();
      const json color = r.is_object() && r.contains("color") ? r["color"] : json();
      if (jsonGet<bool>(r, "HasBaseColor", false) && color.is_array() && color.size() == 3 && color[0].is_number() &&
          color[1].is_number() && color[2].is_number()) {
        m.hasColor = true;
        for (int k = 0; k < 3; ++k) m.rgb[k] = color[k].get<double>();
      }
      if (jsonGet<bool>(r, "HasTransmit", false) && r.contains("transmit") && r["transmit"].is_number()) {
        m.hasTransmit = true;
        m.transmit = r["transmit"].get<double>();
      }
    }
    return _materials[id] = m;
  }

  /// The current symbology as RGBA8 (alpha = 255 − transparency byte) and iTwin.js' tbgr.
  Result<std::pair<uint32_t, uint32_t>> resolve(const State& st) {
    MX_ASSIGN_OR_RETURN(Appearance a, appearance(st.subCategory));
    uint32_t tbgr = st.colorOverride.value_or(a.color);
    double t = 1 - (1 - st.elementTransparency) * (1 - a.transparency);
    const uint64_t matId = st.materialOverride.value_or(a.material);
    if (matId) {
      MX_ASSIGN_OR_RETURN(RenderMaterial m, material(matId));
      if (m.hasColor) {
        auto byte = [](double x) { return uint32_t(std::lround(std::clamp(x, 0.0, 1.0) * 255)); };
        tbgr = byte(m.rgb[0]) | byte(m.rgb[1]) << 8 | byte(m.rgb[2]) << 16;
      }
      if (m.hasTransmit) t = m.transmit;
    }
    const uint32_t tByte = uint32_t(std::floor(255 * std::clamp(t, 0.0, 1.0)));
    tbgr = (tbgr & 0xFFFFFFu) | tByte << 24;
    const uint32_t rgba = (tbgr & 0xFFFFFFu) | (255 - tByte) << 24;
    return std::pair{rgba, tbgr};
  }

  /// Replays recorded events with the element's state. `part` is null for the element's own
  /// stream (pieces are transformed to world meshes) and the part being placed otherwise (pieces
  /// become instances of its shared meshes, grouped by colour).
  Status replay(const std::vector<Event>& events, const Mat4d& transform, State& st, ElementOut& out,
                const std::shared_ptr<const PartGeometry>& part) {
    std::map<uint32_t, std::vector<uint32_t>> groups; // rgba → piece event indices (parts)
    const double scale = part ? areaScale(transform) : 1;
    for (size_t k = 0; k < events.size(); ++k) {
      const Event& ev = events[k];
      if (const auto* sym = std::get_if<SymbologyEvent>(&ev)) {
        if (sym->subCategory != 0) st.subCategory = sym->subCategory;
        st.colorOverride = sym->color;
        st.materialOverride.reset();
        st.elementTransparency = sym->transparency;
      } else if (const auto* mat = std::get_if<MaterialEvent>(&ev)) {
        st.materialOverride = mat->material;
      } else if (const auto* skip = std::get_if<SkipEvent>(&ev)) {
        ++out.stats.skipped[skip->kind];
      } else if (const auto* inst = std::get_if<InstanceEvent>(&ev)) { // walk() records only parts that decoded
        MX_RETURN_IF_ERROR(replay(inst->part->events, core::multiply(transform, inst->transform), st, out, inst->part));
      } else {
        const auto& piece = std::get<PieceEvent>(ev);
        MX_ASSIGN_OR_RETURN(auto colors, resolve(st));
        if (!out.firstSubCategory) out.firstSubCategory = st.subCategory;
        out.stats.triangles += piece.mesh.indices.size() / 3;
        if (std::find(out.stats.colors.begin(), out.stats.colors.end(), colors.second) == out.stats.colors.end())
          out.stats.colors.push_back(colors.second);
        if (part) {
          out.stats.area += piece.area * scale;
          groups[colors.first].push_back(uint32_t(k));
          continue;
        }
        ElementOut::WorldMesh& w = out.meshes[colors.first];
        const uint32_t base = uint32_t(w.points.size());
        const size_t ibase = w.indices.size();
        w.points.resize(base + piece.mesh.points.size());
        w.indices.resize(ibase + piece.mesh.indices.size());
        for (size_t k2 = 0; k2 < piece.mesh.points.size(); ++k2) w.points[base + k2] = core::transformPoint(transform, piece.mesh.points[k2]);
        for (size_t k2 = 0; k2 < piece.mesh.indices.size(); ++k2) w.indices[ibase + k2] = base + piece.mesh.indices[k2];
        for (size_t t = 0; t < piece.mesh.indices.size(); t += 3)
          out.stats.area += triangleArea(w.points[base + piece.mesh.indices[t]], w.points[base + piece.mesh.indices[t + 1]],
                                         w.points[base + piece.mesh.indices[t + 2]]);
      }
    }
    for (auto& [rgba, pieces] : groups) out.instances.push_back({part, std::move(pieces), transform, rgba});
    return Status::ok();
  }

  /// Records a tessellated primitive (nothing when it has no triangles). Only a part's pieces
  /// (depth > 0) are measured here; replay measures the element's own in world coordinates.
  static Status piece(LocalMesh&& local, std::vector<Event>& events, int depth) {
    if (local.indices.empty()) return Status::ok();
    for (const Vec3d& p : local.points)
      if (!std::isfinite(p.x) || !std::isfinite(p.y) || !std::isfinite(p.z))
        return imodelFail(ImodelError::Corrupt, "geometry with NaN or infinite coordinates");
    PieceEvent e;
    for (size_t t = 0; depth > 0 && t < local.indices.size(); t += 3)
      e.area += triangleArea(local.points[local.indices[t]], local.points[local.indices[t + 1]], local.points[local.indices[t + 2]]);
    e.mesh = std::move(local);
    events.emplace_back(std::move(e));
    return Status::ok();
  }

  template <typename T>
  static Result<const T*> verified(std::span<const uint8_t> data, const char* what) {
    flatbuffers::Verifier verifier(data.data(), data.size());
    if (data.size() < 4 || !verifier.VerifyBuffer<T>(nullptr))
      return imodelFail(ImodelError::Corrupt, std::string(what) + " flatbuffer does not verify");
    return flatbuffers::GetRoot<T>(data.data());
  }

  /// The Bentley-geometry union of an op: the "bg0001fb" signature, then a verified BGFB buffer.
  static Result<const fb::VariantGeometry*> bgfb(const GeometryOp& op, const std::string& what) {
    if (op.data.size() < 8 || std::memcmp(op.data.data(), "bg0001fb", 8) != 0)
      return imodelFail(ImodelError::Corrupt, what + " op without the bg0001fb signature");
    return verified<fb::VariantGeometry>(op.data.subspan(8), what.c_str());
  }

  Result<std::vector<uint8_t>> partStream(uint64_t partId) {
    if (!_db || !_columns.part) return imodelFail(ImodelError::Corrupt, "no GeometryPart.GeometryStream column");
    MX_ASSIGN_OR_RETURN(sqlite::Statement s, _db->prepare("SELECT " + _columns.part->second + " FROM " + _columns.part->first + " WHERE ElementId=?"));
    MX_RETURN_IF_ERROR(s.bind(1, int64_t(partId)));
    if (s.step() != sqlite::StepResult::Row) return imodelFail(ImodelError::Corrupt, "geometry part " + formatId64(partId) + " not found");
    const auto b = s.getBlob(0);
    return std::vector<uint8_t>(b.begin(), b.end());
  }

  /// A part, walked once per builder (errors are cached too: a damaged part fails every element
  /// that instances it).
  Result<std::shared_ptr<const PartGeometry>> part(uint64_t partId, int depth) {
    if (auto it = _parts.find(partId); it != _parts.end()) return it->second;
    auto g = std::make_shared<PartGeometry>();
    g->id = partId;
    auto stream = partStream(partId);
    if (!stream) {
      if (stream.status().code() == core::ErrorCode::IoError) return stream.status(); // the file, not the part
      g->error = stream.status();
    } else {
      // A SubGraphicRange before the instance op describes the instance, not the part's first op.
      const auto range = std::exchange(_subGraphicRange, std::nullopt);
      const bool keep = std::exchange(_keepRange, false);
      g->error = walk(*stream, g->events, depth);
      _subGraphicRange = range;
      _keepRange = keep;
    }
    _parts.emplace(partId, g);
    return std::shared_ptr<const PartGeometry>(g);
  }

  /// Decodes one stream (the element's at depth 0, a part's deeper) into events.
  Status walk(std::span<const uint8_t> blob, std::vector<Event>& events, int depth) {
    if (depth > 4) return imodelFail(ImodelError::Corrupt, "geometry parts nest deeper than 4");
    MX_ASSIGN_OR_RETURN(std::vector<uint8_t> inflated, inflateGeometryBlob(blob));
    MX_ASSIGN_OR_RETURN(std::vector<GeometryOp> ops, parseGeometryStream(inflated));
    // Flatbuffer tables are read in place: their doubles must sit at 8-byte aligned addresses.
    // iTwin.js pads every op to 8 bytes; a stream that does not is copied so that they do.
    std::vector<uint64_t> aligned;
    if (std::any_of(ops.begin(), ops.end(), [](const GeometryOp& op) { return reinterpret_cast<uintptr_t>(op.data.data()) % 8; })) {
      size_t words = 0;
      for (const GeometryOp& op : ops) words += (op.data.size() + 7) / 8;
      aligned.resize(words);
      size_t at = 0;
      for (GeometryOp& op : ops) {
        auto* dst = reinterpret_cast<uint8_t*>(aligned.data() + at);
        if (!op.data.empty()) std::memcpy(dst, op.data.data(), op.data.size());
        op.data = std::span<const uint8_t>(dst, op.data.size());
        at += (op.data.size() + 7) / 8;
      }
    }
    if (depth == 0)
      for (const GeometryOp& op : ops) ++_stats->ops[std::string(opCodeName(op.opCode))];
    for (const GeometryOp& op : ops) {
      struct ClearRange {
        std::optional<core::Aabb>& r;
        bool& keep;
        ~ClearRange() { if (!keep) r.reset(); keep = false; }
      } clearRange{_subGraphicRange, _keepRange}; // a SubGraphicRange applies to the next op only
      switch (op.opCode) {
      case 1: break; // header
      case 2: { // the local range of the next geometry op (used by boxForUnsupported)
        MX_ASSIGN_OR_RETURN(const fb::PointPrimitive* r, verified<fb::PointPrimitive>(op.data, "SubGraphicRange"));
        if (r->coords() && r->coords()->size() >= 2) {
          core::Aabb b;
          for (uint32_t i = 0; i < 2; ++i) b.extend(r->coords()->Get(i)->x, r->coords()->Get(i)->y, r->coords()->Get(i)->z);
          _subGraphicRange = b;
        }
        _keepRange = true;
        break;
      }
      case 4: {
        MX_ASSIGN_OR_RETURN(const fb::BasicSymbology* b, verified<fb::BasicSymbology>(op.data, "BasicSymbology"));
        SymbologyEvent e;
        e.subCategory = uint64_t(b->subCategoryId());
        if (b->useColor()) e.color = b->color();
        e.transparency = b->transparency();
        events.emplace_back(e);
        break;
      }
      case 21: {
        MX_ASSIGN_OR_RETURN(const fb::MaterialOp* m, verified<fb::MaterialOp>(op.data, "Material"));
        if (m->useMaterial()) events.emplace_back(MaterialEvent{uint64_t(m->materialId())});
        break;
      }
      case 3: {
        MX_ASSIGN_OR_RETURN(const fb::GeometryPart* p, verified<fb::GeometryPart>(op.data, "GeometryPartInstance"));
        const fb::DPoint3d* o = p->origin();
        Mat4d instance = placementTransform(o ? v(*o) : Vec3d{}, p->yaw(), p->pitch(), p->roll());
        const double scale = p->scale();
        if (!(scale > 0) || !std::isfinite(scale)) return imodelFail(ImodelError::Corrupt, "part instance scale is not positive");
        for (int k : {0, 1, 2, 4, 5, 6, 8, 9, 10}) instance[size_t(k)] *= scale;
        MX_ASSIGN_OR_RETURN(std::shared_ptr<const PartGeometry> g, part(uint64_t(p->partId()), depth + 1));
        if (!g->error) return g->error;
        events.emplace_back(InstanceEvent{std::move(g), instance});
        break;
      }
      case 9: case 11: {
        MX_ASSIGN_OR_RETURN(const fb::VariantGeometry* g, bgfb(op, "geometry"));
        if (g->as<fb::Polyface>() == nullptr) return imodelFail(ImodelError::Corrupt, "geometry union without its member");
        // Solid details are structs: a table without one is damaged.
        const bool missingDetail =
            (g->type() == fb::kBox && !g->as<fb::DetailTable<fb::BoxDetail>>()->detail()) ||
            (g->type() == fb::kSphere && !g->as<fb::DetailTable<fb::SphereDetail>>()->detail()) ||
            (g->type() == fb::kCone && !g->as<fb::DetailTable<fb::ConeDetail>>()->detail()) ||
            (g->type() == fb::kTorusPipe && !g->as<fb::DetailTable<fb::TorusDetail>>()->detail());
        if (missingDetail) return imodelFail(ImodelError::Corrupt, "solid primitive without its detail");
        if (!finiteDetail(*g)) return imodelFail(ImodelError::Corrupt, "solid primitive with NaN, infinite or negative sizes");
        LocalMesh local;
        switch (g->type()) {
        case fb::kPolyface: MX_RETURN_IF_ERROR(tessellatePolyface(*g->as<fb::Polyface>(), local)); break;
        case fb::kBox: tessellateBox(*g->as<fb::DetailTable<fb::BoxDetail>>()->detail(), local); break;
        case fb::kSphere: tessellateSphere(*g->as<fb::DetailTable<fb::SphereDetail>>()->detail(), _o, local); break;
        case fb::kCone: tessellateCone(*g->as<fb::DetailTable<fb::ConeDetail>>()->detail(), _o, local); break;
        case fb::kTorusPipe: tessellateTorus(*g->as<fb::DetailTable<fb::TorusDetail>>()->detail(), _o, local); break;
        case fb::kExtrusion: MX_RETURN_IF_ERROR(meshExtrusion(*g->as<fb::DgnExtrusion>(), _o, local)); break;
        case fb::kRotationalSweep: MX_RETURN_IF_ERROR(meshRotationalSweep(*g->as<fb::DgnRotationalSweep>(), _o, local)); break;
        case fb::kRuledSweep: MX_RETURN_IF_ERROR(meshRuledSweep(*g->as<fb::DgnRuledSweep>(), _o, local)); break;
        default: MX_RETURN_IF_ERROR(unsupported(skippedName(g->type()), events, depth)); break;
        }

        MX_RETURN_IF_ERROR(piece(std::move(local), events, depth));
        break;
      }
      case 5: {
        MX_ASSIGN_OR_RETURN(const fb::PointPrimitive* p, verified<fb::PointPrimitive>(op.data, "PointPrimitive"));
        if (p->boundary() != 2) { events.emplace_back(SkipEvent{"wire (line string, not meshed)"}); break; }
        Region r;
        if (const auto* c = p->coords())
          for (uint32_t i = 0; i < c->size(); ++i) appendPoints(r.outer, {v(*c->Get(i))});
        if (r.outer.size() > 1 && core::length(r.outer.front() - r.outer.back()) < 1e-9) r.outer.pop_back();
        LocalMesh local;
        if (r.outer.size() >= 3) meshRegion(r, local);
        MX_RETURN_IF_ERROR(piece(std::move(local), events, depth));
        break;
      }
      case 7: {
        MX_ASSIGN_OR_RETURN(const fb::ArcPrimitive* a, verified<fb::ArcPrimitive>(op.data, "ArcPrimitive"));
        if (a->boundary() != 2 || !a->center() || !a->vector0() || !a->vector90()) { events.emplace_back(SkipEvent{"wire (arc, not meshed)"}); break; }
        Region r;
        r.outer = strokeArc(v(*a->center()), v(*a->vector0()), v(*a->vector90()), a->start(), a->sweep(), _o);
        if (r.outer.size() > 1 && core::length(r.outer.front() - r.outer.back()) < 1e-9) r.outer.pop_back();
        if (fullSweep(a->sweep())) r.discCenter = v(*a->center());
        LocalMesh local;
        if (r.outer.size() >= 3) meshRegion(r, local);
        MX_RETURN_IF_ERROR(piece(std::move(local), events, depth));
        break;
      }
      case 8: {
        MX_ASSIGN_OR_RETURN(const fb::VariantGeometry* g, bgfb(op, "CurveVector"));
        const fb::CurveVector* cv = g->type() == fb::kCurveVector ? g->as<fb::CurveVector>() : nullptr;
        if (!cv || cv->boundaryType() < 2) { events.emplace_back(SkipEvent{"wire (curve vector, not meshed)"}); break; }
        std::vector<Region> regions;
        MX_RETURN_IF_ERROR(regionsOf(*cv, _o, regions));
        LocalMesh local;
        for (const Region& r : regions) meshRegion(r, local);
        MX_RETURN_IF_ERROR(piece(std::move(local), events, depth));
        break;
      }
      case 6: events.emplace_back(SkipEvent{"2D geometry (not meshed)"}); break;
      case 10: events.emplace_back(SkipEvent{"wire (curve, not meshed)"}); break;
      case 12: {
        MX_ASSIGN_OR_RETURN(const fb::VariantGeometry* g, bgfb(op, "BsplineSurface"));
        const fb::BsplineSurface* s = g->type() == fb::kBsplineSurface ? g->as<fb::BsplineSurface>() : nullptr;
        if (!s) return imodelFail(ImodelError::Corrupt, "BsplineSurface op without a B-spline surface");
        if (s->trimmed()) { MX_RETURN_IF_ERROR(unsupported("BsplineSurface (trimmed)", events, depth)); break; }
        LocalMesh local;
        MX_RETURN_IF_ERROR(meshBsplineSurface(*s, _o, local));
        MX_RETURN_IF_ERROR(piece(std::move(local), events, depth));
        break;
      }
      case 22: MX_RETURN_IF_ERROR(unsupported("TextString", events, depth)); break;
      case 25: MX_RETURN_IF_ERROR(unsupported("ParasolidBRep", events, depth)); break;
      case 28: MX_RETURN_IF_ERROR(unsupported("Image", events, depth)); break;
      default: break; // fill, pattern, line style, deprecated and unknown ops: no geometry
      }
    }
    return Status::ok();
  }

  /// Counts an op that is not meshed; with boxForUnsupported, draws its range (or the element's
  /// box) instead.
  Status unsupported(const std::string& kind, std::vector<Event>& events, int depth) {
    events.emplace_back(SkipEvent{kind});
    if (!_o.boxForUnsupported) return Status::ok();
    // Inside a part the element's box is in another frame: only a SubGraphicRange can stand in.
    const core::Aabb b = _subGraphicRange ? *_subGraphicRange : (depth == 0 ? _elementBox : core::Aabb{});
    if (b.empty()) return Status::ok();
    events.emplace_back(SkipEvent{"substituted by a box"});
    fb::BoxDetail d{};
    d.baseOrigin = {b.min[0], b.min[1], b.min[2]};
    d.topOrigin = {b.min[0], b.min[1], std::max(b.max[2], b.min[2] + 1e-3)};
    d.vectorX = {1, 0, 0};
    d.vectorY = {0, 1, 0};
    d.baseX = d.topX = std::max(b.max[0] - b.min[0], 1e-3);
    d.baseY = d.topY = std::max(b.max[1] - b.min[1], 1e-3);
    d.capped = 1;
    LocalMesh local;
    tessellateBox(d, local);
    return piece(std::move(local), events, depth);
  }

  static std::string skippedName(uint8_t type) {
    switch (type) {
    case 14: return "BsplineSurface";
    default: return "geometry type " + std::to_string(type);
    }
  }

  const sqlite::Db* _db;
  Columns _columns;
  TessellationOptions _o;
  std::optional<sqlite::Statement> _blobStmt;
  std::unordered_map<uint64_t, Appearance> _appearances;
  std::unordered_map<uint64_t, RenderMaterial> _materials;
  std::unordered_map<uint64_t, std::shared_ptr<const PartGeometry>> _parts;
  std::optional<core::Aabb> _subGraphicRange;
  bool _keepRange = false;
  core::Aabb _elementBox;
  ElementGeometryStats* _stats = nullptr;
};

/// Adds the elements' results to the Scene in element order: one feature per element with
/// geometry, its own meshes by colour, and its part instances, whose shared meshes are built once
/// per (part, pieces of one colour).
class SceneJoiner {
public:
  explicit SceneJoiner(ImodelScene& out) : _out(out) {}

  void add(ElementOut&& e, const ElementRecord& rec) {
    ElementGeometryStats& stats = _out.elements.emplace_hint(_out.elements.end(), rec.id, std::move(e.stats))->second;
    for (const auto& [kind, n] : stats.skipped) _out.skipped[kind] += n;
    if (e.meshes.empty() && e.instances.empty()) return;
    core::Scene& scene = _out.scene;
    core::Feature f;
    f.elementId = rec.id;
    f.modelId = rec.model;
    f.categoryId = rec.category;
    f.subCategoryId = e.firstSubCategory.value_or(rec.category + 1);
    f.className = rec.className;
    f.label = rec.userLabel.empty() ? rec.codeValue : rec.userLabel;
    scene.features.push_back(std::move(f));
    const uint32_t feature = uint32_t(scene.features.size() - 1);
    for (auto& [rgba, w] : e.meshes) {
      core::Mesh mesh;
      mesh.positions = std::move(w.points);
      mesh.indices = std::move(w.indices);
      mesh.featureIds.assign(mesh.positions.size(), feature);
      mesh.material = material(rgba);
      scene.meshes.push_back(std::move(mesh));
    }
    for (ElementOut::Instance& inst : e.instances) {
      auto [it, added] = _shared.try_emplace({inst.part->id, inst.pieces}, uint32_t(scene.sharedMeshes.size()));
      if (added) {
        core::Mesh mesh;
        for (uint32_t k : inst.pieces) {
          const LocalMesh& m = std::get<PieceEvent>(inst.part->events[k]).mesh;
          const uint32_t base = uint32_t(mesh.positions.size());
          mesh.positions.insert(mesh.positions.end(), m.points.begin(), m.points.end());
          for (uint32_t idx : m.indices) mesh.indices.push_back(base + idx);
        }
        scene.sharedMeshes.push_back(std::move(mesh));
      }
      scene.instances.push_back({it->second, inst.transform, feature, material(inst.rgba)});
    }
  }

private:
  uint32_t material(uint32_t rgba) {
    auto [it, added] = _materials.try_emplace(rgba, uint32_t(_out.scene.materials.size()));
    if (added) _out.scene.materials.push_back({uint8_t(rgba), uint8_t(rgba >> 8), uint8_t(rgba >> 16), uint8_t(rgba >> 24)});
    return it->second;
  }

  ImodelScene& _out;
  std::unordered_map<uint32_t, uint32_t> _materials;
  std::map<std::pair<uint64_t, std::vector<uint32_t>>, uint32_t> _shared;
};

/// Elements per task: small enough to balance cheap boxes against costly surfaces.
constexpr size_t kElementsPerTask = 32;

Result<ImodelScene> buildScene(const ImodelFile::Impl& file, const TessellationOptions& options) {
  SceneBuilder::Columns columns;
  MX_ASSIGN_OR_RETURN(columns.subCategory, file.column("BisCore", "SubCategory", "Properties"));
  MX_ASSIGN_OR_RETURN(columns.part, file.column("BisCore", "GeometryPart", "GeometryStream"));

  // Elements are independent: each thread decodes with its own connection and caches, and the
  // results join the Scene in element order, so the Scene does not depend on the thread count.
  // Decoding starts while the element query still steps: every kElementsPerTask elements with
  // geometry become a task. Deques keep the records and results in place as they grow.
  struct Worker {
    sqlite::Db db;
    std::optional<SceneBuilder> builder;
  };
  tbb::enumerable_thread_specific<std::unique_ptr<Worker>> workers;
  std::deque<ElementRecord> records;
  std::deque<ElementOut> outs;              // one per element with geometry, in element order
  std::vector<const ElementRecord*> todo;   // the same elements' records
  std::deque<Status> failures;              // one per task
  std::vector<std::pair<const ElementRecord*, ElementOut*>> batch;
  tbb::task_group tasks;
  auto launch = [&] {
    if (batch.empty()) return;
    Status& failure = failures.emplace_back();
    tasks.run([&file, &columns, &options, &workers, &failure, batch = std::move(batch)] {
      std::unique_ptr<Worker>& w = workers.local();
      if (!w) {
        auto db = sqlite::Db::openReadOnlyImmutable(file.path);
        if (!db) { failure = imodelCorrupt(db.status()); return; }
        w = std::make_unique<Worker>();
        w->db = std::move(db).value();
        w->builder.emplace(&w->db, columns, options);
      }
      for (const auto& [record, out] : batch) {
        Status s = w->builder->element(*record, *out);
        if (!s) { failure = std::move(s); return; }
      }
    });
    batch.clear();
  };
  Status walked = file.forEachSpatialElement([&](ElementRecord&& e) {
    records.push_back(std::move(e));
    if (!records.back().hasGeometry) return Status::ok();
    todo.push_back(&records.back());
    batch.emplace_back(&records.back(), &outs.emplace_back());
    if (batch.size() == kElementsPerTask) launch();
    return Status::ok();
  });
  launch();
  tasks.wait(); // also when the walk failed: the tasks point into this frame
  MX_RETURN_IF_ERROR(walked);
  for (Status& f : failures) MX_RETURN_IF_ERROR(std::move(f));

  ImodelScene out;
  out.scene.materials.clear();
  out.scene.ecef = file.facts.ecef;
  out.scene.projectExtents = file.facts.projectExtents;
  SceneJoiner joiner(out);
  for (size_t k = 0; k < todo.size(); ++k) joiner.add(std::move(outs[k]), *todo[k]);
  if (out.scene.materials.empty()) out.scene.materials.push_back({});
  // The records are handed back with the scene so callers need not query again.
  out.records.assign(std::make_move_iterator(records.begin()), std::make_move_iterator(records.end()));
  return out;
}

} // namespace

Result<ImodelScene> ImodelFile::readScene(const TessellationOptions& options) const {
  core::Result<ImodelScene> r = Status{core::ErrorCode::Internal, "not built"};
  try {
    r = buildScene(*_impl, options);
  } catch (const json::exception& e) { // last line of defence: JSON of an unexpected shape
    return imodelFail(ImodelError::Corrupt, std::string("unexpected JSON in the iModel: ") + e.what());
  }
  if (!r && r.status().code() == core::ErrorCode::IoError) return imodelCorrupt(r.status());
  return r;
}

Result<ElementGeometryStats> tessellateGeometryBlob(std::span<const uint8_t> blob, const TessellationOptions& options) {
  SceneBuilder builder(nullptr, {}, options);
  try {
    return builder.one(blob);
  } catch (const json::exception& e) {
    return imodelFail(ImodelError::Corrupt, std::string("unexpected JSON: ") + e.what());
  }
}

} // namespace mx::io
