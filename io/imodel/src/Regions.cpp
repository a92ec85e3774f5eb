#include "Tessellation.h"
#include "Triangulator.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

namespace mx::io::geometry {

using core::Result;

// ---- planar regions and extrusions ---------------------------------------------------------

std::vector<Vec3d> arcPoints(Vec3d c, Vec3d v0, Vec3d v90, double start, double sweep,
                             const std::function<int(double sweep)>& segments) {
  for (double x : {c.x, c.y, c.z, v0.x, v0.y, v0.z, v90.x, v90.y, v90.z, start, sweep})
    if (!std::isfinite(x)) return {};             // a damaged arc draws nothing
  sweep = std::clamp(sweep, -2 * M_PI, 2 * M_PI); // more than a full turn draws nothing new
  const int segs = segments(sweep);
  std::vector<Vec3d> pts;
  pts.reserve(size_t(segs) + 1);
  for (int i = 0; i <= segs; ++i) {
    const double t = start + sweep * i / segs;
    pts.push_back(c + v0 * std::cos(t) + v90 * std::sin(t));
  }
  return pts;
}

/// Points of an elliptic arc: start to start + sweep, segments scaled from the full-circle count.
std::vector<Vec3d> strokeArc(Vec3d c, Vec3d v0, Vec3d v90, double start, double sweep, const TessellationOptions& o) {
  return arcPoints(c, v0, v90, start, sweep, [&](double s) {
    const int n = circleSegments(std::max(core::length(v0), core::length(v90)), o);
    return saturatingInt(std::ceil(std::abs(s) / (2 * M_PI / n) - 1e-9), 1, 1 << 20);
  });
}

Status flatPoints(const flatbuffers::Vector<double>* v, const char* what, std::vector<Vec3d>& out) {
  if (!v || v->size() % 3)
    return imodelFail(ImodelError::Corrupt, std::string(what) + " point count is not a multiple of 3");
  for (uint32_t i = 0; i + 2 < v->size(); i += 3) out.push_back({v->Get(i), v->Get(i + 1), v->Get(i + 2)});
  return Status::ok();
}

bool fullSweep(double sweep) { return std::abs(std::abs(sweep) - 2 * M_PI) < 1e-9; }

void appendPoints(std::vector<Vec3d>& loop, const std::vector<Vec3d>& pts) {
  for (const Vec3d& q : pts)
    if (loop.empty() || core::length(loop.back() - q) > 1e-12) loop.push_back(q);
}

/// Strokes a loop (boundary type 2/3) or path (1) into points; the closing duplicate is dropped.
Status strokeCurves(const fb::CurveVector& cv, const TessellationOptions& o, std::vector<Vec3d>& loop,
                    std::optional<Vec3d>* disc) {
  const auto* curves = cv.curves();
  if (!curves) return Status::ok();
  for (uint32_t k = 0; k < curves->size(); ++k) {
    const fb::VariantGeometry* g = curves->Get(k);
    switch (g->type()) {
    case fb::kLineSegment: {
      const auto* seg = g->as<fb::LineSegment>() ? g->as<fb::LineSegment>()->segment() : nullptr;
      if (seg) appendPoints(loop, {toVec3(seg->p0), toVec3(seg->p1)});
      break;
    }
    case fb::kLineString: {
      std::vector<Vec3d> q;
      MX_RETURN_IF_ERROR(
          flatPoints(g->as<fb::LineString>() ? g->as<fb::LineString>()->points() : nullptr, "line string", q));
      appendPoints(loop, q);
      break;
    }
    case fb::kEllipticArc: {
      const auto* arc = g->as<fb::EllipticArc>() ? g->as<fb::EllipticArc>()->arc() : nullptr;
      if (!arc) break;
      if (disc && curves->size() == 1 && fullSweep(arc->sweep)) *disc = toVec3(arc->center);
      appendPoints(
          loop, strokeArc(toVec3(arc->center), toVec3(arc->vector0), toVec3(arc->vector90), arc->start, arc->sweep, o));
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
    default:
      return imodelFail(ImodelError::Corrupt, "unsupported curve type " + std::to_string(g->type()) + " in a loop");
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
    std::vector<std::vector<Vec3d>> parity;
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
      if (loop.size() >= 3) parity.push_back(std::move(loop));
    }
    for (Region& r : parityRegions(std::move(parity))) out.push_back(std::move(r));
  }
  return Status::ok();
}

/// Triangles of a region; `offset` translates it (extrusion caps), `flip` reverses the faces.
void meshRegion(const Region& r, LocalMesh& m, Vec3d offset, bool flip) {
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
  for (const Vec3d& q : r.outer) {
    outer.push_back(uint32_t(pts.size()));
    pts.push_back(q + offset);
  }
  for (const auto& h : r.holes) {
    holes.emplace_back();
    for (const Vec3d& q : h) {
      holes.back().push_back(uint32_t(pts.size()));
      pts.push_back(q + offset);
    }
  }
  const std::vector<uint32_t> tris = triangulatePolygon(pts, outer, holes);
  const uint32_t base = uint32_t(m.points.size());
  m.points.insert(m.points.end(), pts.begin(), pts.end());
  for (size_t t = 0; t + 2 < tris.size(); t += 3)
    flip ? m.tri(base + tris[t], base + tris[t + 2], base + tris[t + 1])
         : m.tri(base + tris[t], base + tris[t + 1], base + tris[t + 2]);
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
  const Vec3d dir = toVec3(*dv);
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
  const Vec3d origin = toVec3(axis->origin);
  Vec3d dir = toVec3(axis->direction);
  const double len = core::length(dir);
  const double sweep = std::clamp(r.sweep(), -2 * M_PI, 2 * M_PI);
  if (!(len > 0) || !std::isfinite(len) || !std::isfinite(sweep))
    return imodelFail(ImodelError::Corrupt, "rotational sweep with a bad axis or angle");
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
  const int steps = saturatingInt(std::ceil(std::abs(sweep) / (2 * M_PI / n) - 1e-9), 1, 1 << 20);
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
        if (aAxis)
          m.tri(m.add(a0), m.add(b0), m.add(b1));
        else if (bAxis)
          m.tri(m.add(a0), m.add(b0), m.add(a1));
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

Status meshRuledSweep(const fb::DgnRuledSweep& r, const TessellationOptions& o, LocalMesh& m) {
  const auto* sections = r.curves();
  if (!sections || sections->size() < 2)
    return imodelFail(ImodelError::Corrupt, "ruled sweep with fewer than two sections");
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
    if (a.regions.size() != b.regions.size())
      return imodelFail(ImodelError::Corrupt, "ruled sweep sections do not match");
    for (size_t g = 0; g < a.regions.size(); ++g) {
      MX_RETURN_IF_ERROR(rule(a.regions[g].outer, b.regions[g].outer, true));
      if (a.regions[g].holes.size() != b.regions[g].holes.size())
        return imodelFail(ImodelError::Corrupt, "ruled sweep sections do not match");
      for (size_t h = 0; h < a.regions[g].holes.size(); ++h)
        MX_RETURN_IF_ERROR(rule(a.regions[g].holes[h], b.regions[g].holes[h], true));
    }
    if (a.path.size() >= 2) MX_RETURN_IF_ERROR(rule(a.path, b.path, false));
  }
  if (r.capped()) {
    for (const Region& rg : profiles.front().regions) meshRegion(rg, m, {}, true);
    for (const Region& rg : profiles.back().regions) meshRegion(rg, m, {}, false);
  }
  return Status::ok();
}

} // namespace mx::io::geometry
