#include "Tessellation.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mx::io::geometry {

int circleSegments(double radius, const TessellationOptions& o) {
  double a = std::min(std::max(o.angleTolerance, 1e-3), M_PI / 4);
  if (o.chordTolerance > 0 && radius > o.chordTolerance) a = std::min(a, 2 * std::acos(1 - o.chordTolerance / radius));
  // A tiny chord tolerance on a huge radius must not ask for millions of segments.
  return 4 * saturatingInt(std::ceil((M_PI / 2) / a), 1, kMaxCircleSegments / 4);
}

/// Refuses a primitive whose tessellation would exceed the per-primitive point budget (a hostile
/// or absurd stream must not make us allocate without bound).
Status withinBudget(size_t points, const char* what) {
  if (points <= kMaxPrimitivePoints) return Status::ok();
  return imodelFail(ImodelError::Corrupt, std::string(what) + " would need " + std::to_string(points) +
                                              " points (more than " + std::to_string(kMaxPrimitivePoints) + ")");
}

/// A disc (fan around an added centre vertex) over an existing ring.
void fan(LocalMesh& m, Vec3d center, const std::vector<uint32_t>& ring, bool flip) {
  const uint32_t c = m.add(center);
  for (size_t i = 0; i + 1 < ring.size(); ++i) flip ? m.tri(c, ring[i + 1], ring[i]) : m.tri(c, ring[i], ring[i + 1]);
}

void tessellateBox(const fb::BoxDetail& d, LocalMesh& m) {
  const Vec3d bx = toVec3(d.vectorX) * d.baseX, by = toVec3(d.vectorY) * d.baseY, tx = toVec3(d.vectorX) * d.topX,
              ty = toVec3(d.vectorY) * d.topY;
  const Vec3d b0 = toVec3(d.baseOrigin), t0 = toVec3(d.topOrigin);
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
    for (int i = 0; i < 4; ++i) {
      q[i] = m.add(base[i]);
      r[i] = m.add(top[i]);
    }
    m.tri(q[0], q[2], q[1]);
    m.tri(q[0], q[3], q[2]);
    m.tri(r[0], r[1], r[2]);
    m.tri(r[0], r[2], r[3]);
  }
}

void tessellateSphere(const fb::SphereDetail& d, const TessellationOptions& o, LocalMesh& m) {
  const double* t = d.localToWorld;
  auto map = [&](double x, double y, double z) {
    return Vec3d{t[0] * x + t[1] * y + t[2] * z + t[3], t[4] * x + t[5] * y + t[6] * z + t[7],
                 t[8] * x + t[9] * y + t[10] * z + t[11]};
  };
  const double radius =
      std::max({std::hypot(t[0], t[4], t[8]), std::hypot(t[1], t[5], t[9]), std::hypot(t[2], t[6], t[10])});
  const int n = circleSegments(radius, o);
  const double step = 2 * M_PI / n;
  const double lat0 = d.startLatitude, sweep = std::clamp(d.latitudeSweep, -M_PI, M_PI);
  const int bands = saturatingInt(std::ceil(std::abs(sweep) / step - 1e-9), 1, 1 << 20);
  std::vector<std::vector<uint32_t>> rings(bands + 1);
  std::vector<double> lats(bands + 1), cosI(n + 1), sinI(n + 1);
  for (int i = 0; i <= n; ++i) {
    cosI[i] = std::cos(i * step);
    sinI[i] = std::sin(i * step);
  }
  m.points.reserve(m.points.size() + size_t(bands + 1) * size_t(n + 1) + 2);
  m.indices.reserve(m.indices.size() + 6 * size_t(bands) * size_t(n) + 6 * size_t(n));
  for (int k = 0; k <= bands; ++k) {
    lats[k] = lat0 + sweep * k / bands;
    const double cl = std::cos(lats[k]), sl = std::sin(lats[k]);
    if (std::abs(cl) < 1e-12) {
      rings[k] = {m.add(map(0, 0, sl))};
      continue;
    } // pole
    rings[k].reserve(size_t(n) + 1);
    for (int i = 0; i <= n; ++i) rings[k].push_back(m.add(map(cl * cosI[i], cl * sinI[i], sl)));
  }
  for (int k = 0; k < bands; ++k) {
    const auto &a = rings[k], &b = rings[k + 1];
    if (a.size() == 1 && b.size() == 1) continue; // pole to pole: nothing between
    for (int i = 0; i < n; ++i) {
      if (a.size() == 1)
        m.tri(a[0], b[i], b[i + 1]);
      else if (b.size() == 1)
        m.tri(a[i], a[i + 1], b[0]);
      else {
        m.tri(a[i], a[i + 1], b[i + 1]);
        m.tri(a[i], b[i + 1], b[i]);
      }
    }
  }
  if (d.capped) { // close a partial band with planar discs
    if (rings.front().size() > 1) fan(m, map(0, 0, std::sin(lats.front())), rings.front(), true);
    if (rings.back().size() > 1) fan(m, map(0, 0, std::sin(lats.back())), rings.back(), false);
  }
}

void tessellateCone(const fb::ConeDetail& d, const TessellationOptions& o, LocalMesh& m) {
  const Vec3d a = toVec3(d.centerA), b = toVec3(d.centerB), v0 = toVec3(d.vector0), v90 = toVec3(d.vector90);
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
    if (ra.size() == 1)
      m.tri(ra[0], rb[i], rb[i + 1]);
    else if (rb.size() == 1)
      m.tri(ra[i], ra[i + 1], rb[0]);
    else {
      m.tri(ra[i], ra[i + 1], rb[i + 1]);
      m.tri(ra[i], rb[i + 1], rb[i]);
    }
  }
  if (d.capped) {
    if (ra.size() > 1) fan(m, a, ring(a, d.radiusA), true);
    if (rb.size() > 1) fan(m, b, ring(b, d.radiusB), false);
  }
}

void tessellateTorus(const fb::TorusDetail& d, const TessellationOptions& o, LocalMesh& m) {
  const Vec3d c = toVec3(d.center), x = toVec3(d.vectorX), y = toVec3(d.vectorY);
  const Vec3d axis = cross(x, y);
  const int nMinor = circleSegments(d.minorRadius, o);
  const int nFull = circleSegments(d.majorRadius + d.minorRadius, o);
  const double sweep = std::clamp(d.sweep, -2 * M_PI, 2 * M_PI);
  const int nMajor = saturatingInt(std::ceil(std::abs(sweep) / (2 * M_PI / nFull) - 1e-9), 1, 1 << 20);
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
      rings[j].push_back(
          m.add(c + radial * (d.majorRadius + d.minorRadius * cosPh[i]) + axis * (d.minorRadius * sinPh[i])));
  }
  for (int j = 0; j < nMajor; ++j)
    for (int i = 0; i < nMinor; ++i) {
      m.tri(rings[j][i], rings[j + 1][i], rings[j + 1][i + 1]);
      m.tri(rings[j][i], rings[j + 1][i + 1], rings[j][i + 1]);
    }
  if (d.capped && std::abs(sweep) < 2 * M_PI - 1e-9) { // end discs as polygons (n − 2 triangles)
    for (int end : {0, nMajor})
      for (int i = 1; i + 1 < nMinor; ++i)
        end == 0 ? m.tri(rings[0][0], rings[0][i + 1], rings[0][i])
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
  for (size_t i = 0; i < np; ++i)
    m.points.push_back({pts->Get(uint32_t(3 * i)), pts->Get(uint32_t(3 * i + 1)), pts->Get(uint32_t(3 * i + 2))});
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
      if (i >= np)
        return {core::ErrorCode::MalformedInput,
                "polyface index " + std::to_string(raw) + " beyond " + std::to_string(np) + " points"};
      face.push_back(i);
    }
    if (perFace <= 1 ? raw == 0 : (k + 1) % uint32_t(perFace) == 0) flush();
  }
  return flush();
}

template <typename D> bool finiteDoubles(const D* d, size_t count) {
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
  case fb::kBox:
    return finiteDoubles(g.as<fb::DetailTable<fb::BoxDetail>>()->detail(), 16);
  case fb::kSphere:
    return finiteDoubles(g.as<fb::DetailTable<fb::SphereDetail>>()->detail(), 14);
  case fb::kCone: {
    const auto* d = g.as<fb::DetailTable<fb::ConeDetail>>()->detail();
    return finiteDoubles(d, 14) && d->radiusA >= 0 && d->radiusB >= 0;
  }
  case fb::kTorusPipe: {
    const auto* d = g.as<fb::DetailTable<fb::TorusDetail>>()->detail();
    return finiteDoubles(d, 12) && d->majorRadius >= 0 && d->minorRadius >= 0;
  }
  default:
    return true;
  }
}

} // namespace mx::io::geometry
