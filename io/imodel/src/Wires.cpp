// Linework: what exportGraphics reports through onLineGraphics, as line segments; point strings
// (which exportGraphics does not report) as points. Measured on iTwin.js 4 (datasets/imodel):
// an open arc of sweep s gives ceil(|s| / angleTolerance) evenly spaced points (at least 2) at any
// radius; a line string its points; a B-spline curve the loop rule of Bsplines.cpp. Curves of
// other kinds (transition spirals, interpolation and Akima curves) are counted, not stroked.
#include "Tessellation.h"

#include <cmath>
#include <iterator>
#include <string>

namespace mx::io::geometry {

std::vector<Vec3d> strokeArcWire(Vec3d c, Vec3d v0, Vec3d v90, double start, double sweep,
                                 const TessellationOptions& o) {
  const double a = std::min(std::max(o.angleTolerance, 1e-3), M_PI / 4);
  // ceil(|sweep| / a) points, no tolerance, as iTwin.js.
  return arcPoints(c, v0, v90, start, sweep,
                   [a](double s) { return saturatingInt(std::ceil(std::abs(s) / a), 2, 1 << 20) - 1; });
}

void addPolyline(LocalMesh& m, const std::vector<Vec3d>& pts) {
  std::vector<Vec3d> kept;
  appendPoints(kept, pts);
  if (kept.size() < 2) return;
  const uint32_t base = uint32_t(m.points.size());
  m.points.insert(m.points.end(), kept.begin(), kept.end());
  for (uint32_t i = 0; i + 1 < kept.size(); ++i) m.lines.insert(m.lines.end(), {base + i, base + i + 1});
}

std::string geometryTypeName(uint8_t type) {
  static const char* const names[] = {"",
                                      "LineSegment",
                                      "EllipticArc",
                                      "BsplineCurve",
                                      "LineString",
                                      "CurveVector",
                                      "DgnCone",
                                      "DgnSphere",
                                      "DgnTorusPipe",
                                      "DgnBox",
                                      "DgnExtrusion",
                                      "DgnRotationalSweep",
                                      "DgnRuledSweep",
                                      "Polyface",
                                      "BsplineSurface",
                                      "VectorOfVariantGeometry",
                                      "InterpolationCurve",
                                      "TransitionSpiral",
                                      "PointString"};
  return type < std::size(names) && type > 0 ? names[type] : "geometry type " + std::to_string(type);
}

Status strokeWire(const fb::VariantGeometry& g, const TessellationOptions& o, LocalMesh& m,
                  std::vector<std::string>& skipped, int depth) {
  switch (g.type()) {
  case fb::kLineSegment: {
    const auto* seg = g.as<fb::LineSegment>() ? g.as<fb::LineSegment>()->segment() : nullptr;
    if (seg) addPolyline(m, {toVec3(seg->p0), toVec3(seg->p1)});
    return Status::ok();
  }
  case fb::kLineString: {
    std::vector<Vec3d> q;
    MX_RETURN_IF_ERROR(
        flatPoints(g.as<fb::LineString>() ? g.as<fb::LineString>()->points() : nullptr, "line string", q));
    MX_RETURN_IF_ERROR(withinBudget(q.size(), "line string"));
    addPolyline(m, q);
    return Status::ok();
  }
  case fb::kPointString: {
    std::vector<Vec3d> q;
    MX_RETURN_IF_ERROR(
        flatPoints(g.as<fb::LineString>() ? g.as<fb::LineString>()->points() : nullptr, "point string", q));
    MX_RETURN_IF_ERROR(withinBudget(q.size(), "point string"));
    for (const Vec3d& p : q) m.dots.push_back(m.add(p));
    return Status::ok();
  }
  case fb::kEllipticArc: {
    const auto* arc = g.as<fb::EllipticArc>() ? g.as<fb::EllipticArc>()->arc() : nullptr;
    if (arc)
      addPolyline(m, strokeArcWire(toVec3(arc->center), toVec3(arc->vector0), toVec3(arc->vector90), arc->start,
                                   arc->sweep, o));
    return Status::ok();
  }
  case fb::kBsplineCurve: {
    const auto* c = g.as<fb::BsplineCurve>();
    if (!c) return Status::ok();
    std::vector<Vec3d> q;
    MX_RETURN_IF_ERROR(strokeBsplineCurve(*c, o, q));
    addPolyline(m, q);
    return Status::ok();
  }
  case fb::kCurveVector: {
    if (depth > 8) return imodelFail(ImodelError::Corrupt, "curve vectors nest deeper than 8");
    const auto* cv = g.as<fb::CurveVector>();
    const auto* curves = cv ? cv->curves() : nullptr;
    if (!curves) return Status::ok();
    for (uint32_t k = 0; k < curves->size(); ++k)
      MX_RETURN_IF_ERROR(strokeWire(*curves->Get(k), o, m, skipped, depth + 1));
    return Status::ok();
  }
  default: // counted, and the rest of the element still drawn
    skipped.push_back("wire (" + geometryTypeName(g.type()) + ", not stroked)");
    return Status::ok();
  }
}

} // namespace mx::io::geometry
