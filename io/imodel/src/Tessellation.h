#pragma once
// Tessellation of GeometryStream primitives into triangles, with iTwin.js exportGraphics' stroke
// rules (format doc section 9): 4 · ceil((π/2)/angleTolerance) segments per circle (tightened by
// chordTolerance), at most kMaxCircleSegments, at most kMaxPrimitivePoints points a primitive.
//   Solids.cpp    boxes, spheres and ellipsoids, cones and cylinders, torus pipes, polyfaces
//   Regions.cpp   planar regions (loops, holes, discs), extrusions, rotational and ruled sweeps
//   Bsplines.cpp  B-spline curves in loops (our grid rule), pole and knot helpers
//   BsplineSurfaces.cpp  untrimmed B-spline surfaces (the native facet rule)
//   Wires.cpp     linework: line strings, arcs, curves and paths as line segments, point strings
//                 as points (exportGraphics' onLineGraphics stroke rules)
// Inputs are flatbuffer tables already verified; meshes are in the stream's local coordinates.
#include "GeometryFlatbuffers.h"
#include "ImodelImpl.h"

#include <mx/core/Math.h>

#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace mx::io::geometry {

using core::Status;
using core::Vec3d;

/// Triangles, line segments and points in element-local (or part-local) coordinates.
struct LocalMesh {
  std::vector<Vec3d> points;
  std::vector<uint32_t> indices; ///< 3 per triangle.
  std::vector<uint32_t> lines;   ///< 2 per segment.
  std::vector<uint32_t> dots;    ///< 1 per point.
  uint32_t add(Vec3d p) {
    points.push_back(p);
    return uint32_t(points.size() - 1);
  }
  void tri(uint32_t a, uint32_t b, uint32_t c) { indices.insert(indices.end(), {a, b, c}); }
  [[nodiscard]] bool empty() const { return indices.empty() && lines.empty() && dots.empty(); }
};

/// `v` as an int in [lo, hi]: NaN gives lo and infinities saturate (a cast of an out-of-range double
/// to int is undefined; hostile geometry reaches these counts with inf and NaN).
inline int saturatingInt(double v, int lo, int hi) {
  if (!(v > lo)) return lo;
  return v >= hi ? hi : int(v);
}
inline Vec3d toVec3(const fb::DPoint3d& p) { return {p.x, p.y, p.z}; }
inline Vec3d cross(Vec3d a, Vec3d b) { return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x}; }
inline double triangleArea(Vec3d a, Vec3d b, Vec3d c) { return 0.5 * core::length(cross(b - a, c - a)); }

// ---- Solids.cpp ------------------------------------------------------------------------------------
/// Segments for a full circle of radius r (exportGraphics: per 90° ceil((π/2)/a)).
int circleSegments(double radius, const TessellationOptions& o);
/// Refuses a primitive whose tessellation would exceed the per-primitive point budget (a hostile
/// or absurd stream must not make us allocate without bound).
Status withinBudget(size_t points, const char* what);
/// A disc (fan around an added centre vertex) over an existing ring.
void fan(LocalMesh& m, Vec3d center, const std::vector<uint32_t>& ring, bool flip);
void tessellateBox(const fb::BoxDetail& d, LocalMesh& m);
void tessellateSphere(const fb::SphereDetail& d, const TessellationOptions& o, LocalMesh& m);
void tessellateCone(const fb::ConeDetail& d, const TessellationOptions& o, LocalMesh& m);
void tessellateTorus(const fb::TorusDetail& d, const TessellationOptions& o, LocalMesh& m);
Status tessellatePolyface(const fb::Polyface& p, LocalMesh& m);
/// Every number of a solid's detail is finite and its radii are not negative.
bool finiteDetail(const fb::VariantGeometry& g);

// ---- Regions.cpp -----------------------------------------------------------------------------------
/// Points of an elliptic arc: start to start + sweep, segments scaled from the full-circle count.
std::vector<Vec3d> strokeArc(Vec3d c, Vec3d v0, Vec3d v90, double start, double sweep, const TessellationOptions& o);
/// The segments(clamped sweep) + 1 points of an elliptic arc from start to start + sweep (sweep
/// clamped to a full turn; none when a number is not finite): what strokeArc and strokeArcWire share.
std::vector<Vec3d> arcPoints(Vec3d c, Vec3d v0, Vec3d v90, double start, double sweep,
                             const std::function<int(double sweep)>& segments);
/// The points of a flat xyz vector; Corrupt ("WHAT point count …") when it is absent or ragged.
Status flatPoints(const flatbuffers::Vector<double>* v, const char* what, std::vector<Vec3d>& out);
bool fullSweep(double sweep);

/// One planar area: an outer loop, holes, and, for a lone full ellipse, its centre (discs are
/// fans around the centre, as exportGraphics makes them).
struct Region {
  std::vector<Vec3d> outer;
  std::vector<std::vector<Vec3d>> holes;
  std::optional<Vec3d> discCenter;
};

/// Appends points to a loop, skipping repeats.
void appendPoints(std::vector<Vec3d>& loop, const std::vector<Vec3d>& pts);
/// A parity region's loops as iTwin.js fills them (ParityRegions.cpp): by containment, not by
/// order (a loop inside an even number of others bounds a filled area, inside an odd number it is
/// a hole of the smallest loop around it); loops that touch or cross are first cut into the
/// boundary of the even-odd area (shared edges cancel, touching points split it into pieces).
std::vector<Region> parityRegions(std::vector<std::vector<Vec3d>> loops);
/// The closed regions of a curve vector (boundary type 2 outer, 3 inner, 4 parity, 5 union).
Status regionsOf(const fb::CurveVector& cv, const TessellationOptions& o, std::vector<Region>& out);
/// Triangulates a region (Triangulator.h), optionally offset and with flipped winding.
void meshRegion(const Region& r, LocalMesh& m, Vec3d offset = {}, bool flip = false);
Status meshExtrusion(const fb::DgnExtrusion& e, const TessellationOptions& o, LocalMesh& m);
Status meshRotationalSweep(const fb::DgnRotationalSweep& r, const TessellationOptions& o, LocalMesh& m);
Status meshRuledSweep(const fb::DgnRuledSweep& r, const TessellationOptions& o, LocalMesh& m);

// ---- Bsplines.cpp ----------------------------------------------------------------------------------
/// Poles of a B-spline (rational or not): as stored (homogeneous: xyz multiplied by the weight),
/// cartesian, and the weights (1 when not rational).
struct Poles {
  std::vector<Vec3d> hom, cart;
  std::vector<double> weights;
  bool rational = false;
};
/// Reads `count` poles and their weights; Corrupt (naming `what`) for a non-finite pole or a weight ≤ 0.
core::Result<Poles> readPoles(const flatbuffers::Vector<double>& xyz, const flatbuffers::Vector<double>* w,
                              size_t count, const char* what);
/// Knots finite and non-decreasing.
bool validKnots(const std::vector<double>& k);
/// The order non-zero basis functions of knot span s at t (de Boor).
void basisFunctions(const std::vector<double>& knots, int order, int s, double t, double* out);
/// The span s (order-1 ≤ s ≤ n-1) with knots[s] ≤ t < knots[s+1]; the last span takes its end.
int findSpan(const std::vector<double>& knots, int order, int n, double t);
Status strokeBsplineCurve(const fb::BsplineCurve& c, const TessellationOptions& o, std::vector<Vec3d>& out);

// ---- BsplineSurfaces.cpp ---------------------------------------------------------------------------
/// A homogeneous pole (xyz multiplied by the weight).
struct Hom {
  double x = 0, y = 0, z = 0, w = 1;
};
inline Vec3d cartesian(const Hom& h) { return Vec3d{h.x, h.y, h.z} * (1 / h.w); }
/// The first knot index s of each non-empty span of a curve of n poles.
std::vector<int> knotSpans(const std::vector<double>& knots, int n, int order);
/// The Bezier poles (order of them) of span s of a curve (`line`: its n homogeneous poles): the
/// span's own poles with its end knots raised to multiplicity degree by local knot insertion.
std::vector<Hom> bezierOfSpan(const std::vector<double>& knots, std::span<const Hom> line, int order, int s);
/// An untrimmed B-spline surface as iTwin.js' native facetter meshes it (imodel-native GeomLibs
/// bsppolyface.cpp): per Bezier patch a grid whose step counts come from its control net, shared
/// patch edges taking the finer neighbour's count.
Status meshBsplineSurface(const fb::BsplineSurface& s, const TessellationOptions& o, LocalMesh& m);

// ---- Wires.cpp ------------------------------------------------------------------------------------
/// Points of an open elliptic arc as exportGraphics strokes linework: ceil(|sweep| / angleTolerance)
/// points evenly spread from start to end (at least 2), whatever the radius.
std::vector<Vec3d> strokeArcWire(Vec3d c, Vec3d v0, Vec3d v90, double start, double sweep,
                                 const TessellationOptions& o);
/// A polyline (consecutive points joined; repeats skipped) into `m`'s segments.
void addPolyline(LocalMesh& m, const std::vector<Vec3d>& pts);
/// One curve of a wire (line segment, line string, arc, B-spline curve, point string, or a curve
/// vector of them) into `m`: segments, or points for a point string. Curves of another kind
/// (transition spirals, interpolation and Akima curves…) are named in `skipped`, not stroked.
Status strokeWire(const fb::VariantGeometry& g, const TessellationOptions& o, LocalMesh& m,
                  std::vector<std::string>& skipped, int depth = 0);
/// The name of a BGFB geometry union tag (format doc: 1 LineSegment … 18 PointString).
std::string geometryTypeName(uint8_t type);

} // namespace mx::io::geometry
