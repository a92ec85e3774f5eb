// Untrimmed B-spline surfaces, meshed with the facet rule of iTwin.js' native geometry library
// (imodel-native GeomLibs, bsppolyface.cpp; read there, written here from its description, and
// measured against exportGraphics on 109 surfaces of orders 2 to 5 with 1 to 20 patches, open and
// closed, smooth and folded: equal triangle counts):
//   1. the surface is cut into Bezier patches: knot insertion, in homogeneous coordinates, until
//      every knot of the active range has multiplicity degree;
//   2. per patch and direction, from the patch's cartesian control net: over every row of the
//      net, the largest angle at P0 between P0→P1 and P0→P2 of consecutive pole triples (order > 2)
//      gives steps = int(1 + degree · angle / angleTolerance) when it exceeds the tolerance, and at
//      least the patch's diagonal count: int(0.999 + √(r / 0.06)) when r, the largest ratio over
//      the net's quads of the distance between the midpoints of its two diagonals to the longer
//      diagonal, exceeds 0.06 (at most 30). A chord tolerance adds int(0.999 + √(e / tol)), e the
//      largest such midpoint distance, and int(1 + √(h / tol)), h the largest chord height. Order
//      2: the diagonal count. The first and last row alone give the counts of the patch's two
//      edges along that direction (without the diagonal count);
//   3. each edge takes the largest of its own count, the patch's interior count and the
//      neighbouring patch's interior count (wrapping around a closed direction);
//   4. a patch whose edges all equal its interior counts is a grid of 2 · nu · nv triangles.
//      Otherwise its interior keeps the grid points of max(nu, 2) × max(nv, 2) cells, and the ring
//      between them and the edge points is four strips, one per edge.
#include "Tessellation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <span>

namespace mx::io::geometry {

using core::Result;

namespace {

constexpr int kMaxStepsPerPatch = 500;
constexpr int kMaxDiagonalCount = 30;
constexpr double kDiagonalRelTol = 0.06;
constexpr double kTiny = 1e-8;

Hom mix(const Hom& a, const Hom& b, double t) {
  return {a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t, a.z + (b.z - a.z) * t, a.w + (b.w - a.w) * t};
}
double dot(Vec3d a, Vec3d b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

/// Step counts of one direction of a patch: the interior, and the two edges along it.
struct Steps {
  int interior = 1, low = 1, high = 1;
};

/// Counts from the largest chord height and angle of a direction (see the file comment).
int chordCount(int degree, int diagonal, double height, double angle, const TessellationOptions& o) {
  int count = std::max(1, diagonal);
  if (o.chordTolerance > 0)
    count = std::max(count, saturatingInt(1.0 + std::sqrt(height / o.chordTolerance), 1, kMaxStepsPerPatch));
  if (o.angleTolerance > 0 && angle > o.angleTolerance)
    count = std::max(count, saturatingInt(1.0 + double(degree) * angle / o.angleTolerance, 1, kMaxStepsPerPatch));
  return std::clamp(count, 1, kMaxStepsPerPatch);
}

/// `net[row][k]`: the patch's cartesian poles, rows across the direction measured.
Steps directionSteps(const std::vector<std::vector<Vec3d>>& net, int order, int diagonal,
                     const TessellationOptions& o) {
  Steps st;
  if (order <= 2) {
    st.interior = std::clamp(diagonal, 1, kMaxStepsPerPatch);
    return st;
  }
  double h = 0, hLo = 0, hHi = 0, a = 0, aLo = 0, aHi = 0;
  for (size_t r = 0; r < net.size(); ++r)
    for (int k = 0; k + 2 < order; ++k) {
      const Vec3d v01 = net[r][size_t(k + 1)] - net[r][size_t(k)], v02 = net[r][size_t(k + 2)] - net[r][size_t(k)];
      const Vec3d v12 = net[r][size_t(k + 2)] - net[r][size_t(k + 1)];
      const double m01 = core::length(v01), m02 = core::length(v02), m12 = core::length(v12);
      if (!(m01 > kTiny && m02 > kTiny && m12 > kTiny)) continue;
      const double c = core::length(cross(v01, v02));
      const double height = c / m02, angle = std::atan2(c, dot(v01, v02));
      h = std::max(h, height);
      a = std::max(a, angle);
      if (r == 0) {
        hLo = std::max(hLo, height);
        aLo = std::max(aLo, angle);
      }
      if (r + 1 == net.size()) {
        hHi = std::max(hHi, height);
        aHi = std::max(aHi, angle);
      }
    }
  st.interior = chordCount(order - 1, diagonal, h, a, o);
  st.low = chordCount(order - 1, 0, hLo, aLo, o);
  st.high = chordCount(order - 1, 0, hHi, aHi, o);
  return st;
}

/// The diagonal count of a patch net `c[j][i]` (see the file comment).
int diagonalCount(const std::vector<std::vector<Vec3d>>& c, const TessellationOptions& o) {
  double maxDiff = 0, maxRatio = 0;
  for (size_t j = 1; j < c.size(); ++j)
    for (size_t i = 1; i < c[j].size(); ++i) {
      const Vec3d m0 = (c[j - 1][i - 1] + c[j][i]) * 0.5, m1 = (c[j - 1][i] + c[j][i - 1]) * 0.5;
      const Vec3d d = m0 - m1;
      const double diff = dot(d, d);
      const Vec3d e0 = c[j - 1][i - 1] - c[j][i], e1 = c[j - 1][i] - c[j][i - 1];
      const double longer = std::max(dot(e0, e0), dot(e1, e1));
      if (longer > 0) maxRatio = std::max(maxRatio, diff / longer);
      maxDiff = std::max(maxDiff, diff);
    }
  int count = o.chordTolerance > 0
                  ? saturatingInt(0.999 + std::sqrt(std::sqrt(maxDiff) / o.chordTolerance), 1, kMaxDiagonalCount)
                  : 1;
  const double rel = std::sqrt(maxRatio);
  if (rel > kDiagonalRelTol)
    count = std::max(count, saturatingInt(0.999 + std::sqrt(rel / kDiagonalRelTol), 1, kMaxDiagonalCount));
  return std::clamp(count, 1, kMaxDiagonalCount);
}

struct PatchSteps {
  Steps u, v;
};

/// Triangles of one patch in its parameter square [0,1]², counter-clockwise; `point(s, t)` gives a
/// mesh index for the local parameters.
template <typename PointOf>
void meshPatch(int nu, int nv, int uLow, int uHigh, int vLow, int vHigh, LocalMesh& m, PointOf&& point) {
  auto tri = [&](std::array<double, 2> a, std::array<double, 2> b, std::array<double, 2> c) {
    const double area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
    if (area < 0) std::swap(b, c);
    m.tri(point(a[0], a[1]), point(b[0], b[1]), point(c[0], c[1]));
  };
  auto grid = [&](int cu, int cv, int u0, int u1, int v0, int v1) { // cells [u0,u1) × [v0,v1) of cu × cv
    for (int j = v0; j < v1; ++j)
      for (int i = u0; i < u1; ++i) {
        const std::array<double, 2> p00{double(i) / cu, double(j) / cv}, p10{double(i + 1) / cu, double(j) / cv},
            p01{double(i) / cu, double(j + 1) / cv}, p11{double(i + 1) / cu, double(j + 1) / cv};
        tri(p00, p10, p11);
        tri(p00, p11, p01);
      }
  };
  if (uLow == nu && uHigh == nu && vLow == nv && vHigh == nv) {
    grid(nu, nv, 0, nu, 0, nv);
    return;
  }
  const int a = std::max(nu, 2), b = std::max(nv, 2);
  grid(a, b, 1, a - 1, 1, b - 1);
  // One strip per edge: the edge's points and the inner rectangle's side facing it, zipped along
  // the edge (both chains are monotone in that coordinate).
  auto strip = [&](int steps, int innerSteps, bool alongU, double edge, double inner) {
    std::vector<std::array<double, 2>> outer, in;
    for (int k = 0; k <= steps; ++k) {
      const double s = double(k) / steps;
      outer.push_back(alongU ? std::array<double, 2>{s, edge} : std::array<double, 2>{edge, s});
    }
    const int cells = alongU ? a : b;
    for (int k = 1; k <= innerSteps - 1; ++k) {
      const double s = double(k) / cells;
      in.push_back(alongU ? std::array<double, 2>{s, inner} : std::array<double, 2>{inner, s});
    }
    const int c = alongU ? 0 : 1;
    size_t i = 0, j = 0;
    while (i + 1 < outer.size() || j + 1 < in.size()) {
      if (j + 1 >= in.size() || (i + 1 < outer.size() && outer[i + 1][size_t(c)] <= in[j + 1][size_t(c)])) {
        tri(outer[i], outer[i + 1], in[j]);
        ++i;
      } else {
        tri(outer[i], in[j + 1], in[j]);
        ++j;
      }
    }
  };
  strip(uLow, a, true, 0.0, 1.0 / b);
  strip(uHigh, a, true, 1.0, double(b - 1) / b);
  strip(vLow, b, false, 0.0, 1.0 / a);
  strip(vHigh, b, false, 1.0, double(a - 1) / a);
}

/// Whether the first and last pole lines across `alongU` coincide (closed that way, as iTwin.js'
/// IsPhysicallyClosed asks).
bool physicallyClosed(const Poles& p, int nu, int nv, bool alongU) {
  double size = 0;
  for (const Vec3d& q : p.cart) size = std::max({size, std::abs(q.x), std::abs(q.y), std::abs(q.z)});
  const double tol = 1e-10 * std::max(1.0, size);
  const int lines = alongU ? nv : nu;
  for (int k = 0; k < lines; ++k) {
    const Vec3d a = alongU ? p.cart[size_t(k) * size_t(nu)] : p.cart[size_t(k)];
    const Vec3d b =
        alongU ? p.cart[size_t(k) * size_t(nu) + size_t(nu - 1)] : p.cart[size_t(nv - 1) * size_t(nu) + size_t(k)];
    if (core::length(a - b) > tol) return false;
  }
  return true;
}

} // namespace

std::vector<int> knotSpans(const std::vector<double>& knots, int n, int order) {
  std::vector<int> spans;
  for (int s = order - 1; s < n; ++s)
    if (knots[size_t(s + 1)] > knots[size_t(s)]) spans.push_back(s);
  return spans;
}

/// Inserts t into the local curve (u, q) whose span of interest starts at knot index k (Boehm).
static void insertLocal(std::vector<double>& u, std::vector<Hom>& q, int p, int k, double t) {
  std::vector<Hom> out(q.size() + 1);
  for (int i = 0; i < int(out.size()); ++i) {
    if (i <= k - p) {
      out[size_t(i)] = q[size_t(i)];
    } else if (i > k) {
      out[size_t(i)] = q[size_t(i - 1)];
    } else {
      const double den = u[size_t(i + p)] - u[size_t(i)];
      out[size_t(i)] = mix(q[size_t(i - 1)], q[size_t(i)], den > 0 ? (t - u[size_t(i)]) / den : 0);
    }
  }
  q = std::move(out);
  u.insert(u.begin() + k + 1, t);
}

std::vector<Hom> bezierOfSpan(const std::vector<double>& knots, std::span<const Hom> line, int order, int s) {
  const int p = order - 1;
  // The span's p + 1 poles and the 2p + 2 knots around them: a curve of its own whose span
  // [u[p], u[p + 1]] is this one. Its ends are raised to multiplicity p, locally: O(p³) a span.
  std::vector<double> u(knots.begin() + (s - p), knots.begin() + (s + p + 2));
  std::vector<Hom> q(line.begin() + (s - p), line.begin() + (s + 1));
  int k = p;
  const double a = u[size_t(p)], b = u[size_t(p + 1)];
  int ma = 0;
  for (int j = k; j >= 0 && u[size_t(j)] == a; --j) ++ma;
  for (; ma < p; ++ma) {
    insertLocal(u, q, p, k, a);
    ++k; // the span now starts after the inserted knot
  }
  int mb = 0;
  for (size_t j = size_t(k + 1); j < u.size() && u[j] == b; ++j) ++mb;
  for (; mb < p; ++mb) insertLocal(u, q, p, k, b);
  return std::vector<Hom>(q.begin() + (k - p), q.begin() + (k + 1));
}

Status meshBsplineSurface(const fb::BsplineSurface& s, const TessellationOptions& o, LocalMesh& m) {
  const int nu = s.numPolesU(), nv = s.numPolesV(), ku = s.orderU(), kv = s.orderV();
  if (ku < 2 || kv < 2 || ku > 26 || kv > 26 || nu < ku || nv < kv || int64_t(nu) * nv > (int64_t(1) << 22))
    return imodelFail(ImodelError::Corrupt, "B-spline surface with impossible pole counts or orders");
  const auto* poles = s.poles();
  const auto* ku_ = s.knotsU();
  const auto* kv_ = s.knotsV();
  const auto* w = s.weights();
  if (!poles || poles->size() != size_t(3) * size_t(nu) * size_t(nv) || !ku_ || ku_->size() != size_t(nu + ku) ||
      !kv_ || kv_->size() != size_t(nv + kv) || (w && w->size() != 0 && w->size() != size_t(nu) * size_t(nv)))
    return imodelFail(ImodelError::Corrupt, "B-spline surface whose poles, weights or knots do not match its counts");
  const std::vector<double> knotsU(ku_->begin(), ku_->end()), knotsV(kv_->begin(), kv_->end());
  if (!validKnots(knotsU) || !validKnots(knotsV))
    return imodelFail(ImodelError::Corrupt, "B-spline surface knots are not finite and non-decreasing");
  MX_ASSIGN_OR_RETURN(const Poles pl, readPoles(*poles, w, size_t(nu) * size_t(nv), "B-spline surface"));
  // 1. Bezier patches: each row's u spans, then each patch column's v spans.
  const std::vector<int> uSpans = knotSpans(knotsU, nu, ku), vSpans = knotSpans(knotsV, nv, kv);
  if (uSpans.empty() || vSpans.empty()) return Status::ok(); // degenerate knots: nothing to draw
  MX_RETURN_IF_ERROR(withinBudget(uSpans.size() * vSpans.size(), "B-spline surface"));
  // The Bezier nets held at once: every row's u spans, then every patch.
  MX_RETURN_IF_ERROR(withinBudget(
      std::max(uSpans.size() * size_t(ku) * size_t(nv), uSpans.size() * vSpans.size() * size_t(ku) * size_t(kv)),
      "B-spline surface's Bezier patches"));
  std::vector<Hom> row(static_cast<size_t>(nu)), column(static_cast<size_t>(nv));
  // rowBezier[j][a * ku + i]: pole i of u span a in row j.
  std::vector<std::vector<Hom>> rowBezier(static_cast<size_t>(nv));
  for (int j = 0; j < nv; ++j) {
    for (int i = 0; i < nu; ++i) {
      const size_t k = size_t(j) * size_t(nu) + size_t(i);
      row[size_t(i)] = {pl.hom[k].x, pl.hom[k].y, pl.hom[k].z, pl.weights[k]};
    }
    for (int sp : uSpans) {
      const std::vector<Hom> bz = bezierOfSpan(knotsU, row, ku, sp);
      rowBezier[size_t(j)].insert(rowBezier[size_t(j)].end(), bz.begin(), bz.end());
    }
  }

  // 2. Step counts per patch, from its cartesian net.
  const size_t PU = uSpans.size(), PV = vSpans.size();
  // patchNets[b * PU + a][j][i]: the cartesian net of patch (u span a, v span b).
  std::vector<std::vector<std::vector<Vec3d>>> patchNets(
      PU * PV, std::vector<std::vector<Vec3d>>(size_t(kv), std::vector<Vec3d>(static_cast<size_t>(ku))));
  for (size_t a = 0; a < PU; ++a)
    for (int i = 0; i < ku; ++i) {
      for (int j = 0; j < nv; ++j) column[size_t(j)] = rowBezier[size_t(j)][a * size_t(ku) + size_t(i)];
      for (size_t b = 0; b < PV; ++b) {
        const std::vector<Hom> bz = bezierOfSpan(knotsV, column, kv, vSpans[b]);
        for (int j = 0; j < kv; ++j) patchNets[b * PU + a][size_t(j)][size_t(i)] = cartesian(bz[size_t(j)]);
      }
    }
  std::vector<PatchSteps> steps(PU * PV);
  for (size_t b = 0; b < PV; ++b)
    for (size_t a = 0; a < PU; ++a) {
      const std::vector<std::vector<Vec3d>>& net = patchNets[b * PU + a];
      std::vector<std::vector<Vec3d>> transposed(size_t(ku), std::vector<Vec3d>(static_cast<size_t>(kv)));
      for (int j = 0; j < kv; ++j)
        for (int i = 0; i < ku; ++i) transposed[size_t(i)][size_t(j)] = net[size_t(j)][size_t(i)];
      const int diagonal = diagonalCount(net, o);
      steps[b * PU + a] = {directionSteps(net, ku, diagonal, o), directionSteps(transposed, kv, diagonal, o)};
    }

  // 3 and 4. Edges take the finer neighbour; each patch meshed in its parameter rectangle, points
  // shared along patch edges (keyed by their surface parameters).
  const bool closedU = s.closedU() || physicallyClosed(pl, nu, nv, true);
  const bool closedV = s.closedV() || physicallyClosed(pl, nu, nv, false);
  auto neighbour = [](size_t k, size_t n, bool closed, int d) {
    if (closed) return (k + n + size_t(d + 1) - 1) % n;
    if (d < 0) return k == 0 ? k : k - 1;
    return k + 1 >= n ? k : k + 1;
  };
  std::map<std::pair<double, double>, uint32_t> shared;
  double basisU[32], basisV[32];
  for (size_t b = 0; b < PV; ++b)
    for (size_t a = 0; a < PU; ++a) {
      const PatchSteps& st = steps[b * PU + a];
      const size_t b0 = neighbour(b, PV, closedV, -1), b1 = neighbour(b, PV, closedV, 1);
      const size_t a0 = neighbour(a, PU, closedU, -1), a1 = neighbour(a, PU, closedU, 1);
      const int uLow = std::max({st.u.interior, st.u.low, b0 != b ? steps[b0 * PU + a].u.interior : 0});
      const int uHigh = std::max({st.u.interior, st.u.high, b1 != b ? steps[b1 * PU + a].u.interior : 0});
      const int vLow = std::max({st.v.interior, st.v.low, a0 != a ? steps[b * PU + a0].v.interior : 0});
      const int vHigh = std::max({st.v.interior, st.v.high, a1 != a ? steps[b * PU + a1].v.interior : 0});
      const double u0 = knotsU[size_t(uSpans[a])], u1 = knotsU[size_t(uSpans[a] + 1)];
      const double v0 = knotsV[size_t(vSpans[b])], v1 = knotsV[size_t(vSpans[b] + 1)];
      meshPatch(st.u.interior, st.v.interior, uLow, uHigh, vLow, vHigh, m, [&](double su, double sv) {
        const double uu = su >= 1 ? u1 : u0 + su * (u1 - u0), vv = sv >= 1 ? v1 : v0 + sv * (v1 - v0);
        auto [it, added] = shared.try_emplace({uu, vv}, uint32_t(m.points.size()));
        if (!added) return it->second;
        const int spu = findSpan(knotsU, ku, nu, uu), spv = findSpan(knotsV, kv, nv, vv);
        basisFunctions(knotsU, ku, spu, uu, basisU);
        basisFunctions(knotsV, kv, spv, vv, basisV);
        Vec3d q{0, 0, 0};
        double wsum = 0;
        for (int j = 0; j < kv; ++j)
          for (int i = 0; i < ku; ++i) {
            const size_t idx = size_t(spv - kv + 1 + j) * size_t(nu) + size_t(spu - ku + 1 + i);
            const double f = basisU[i] * basisV[j];
            q = q + pl.hom[idx] * f;
            wsum += f * pl.weights[idx];
          }
        return m.add(q * (1 / (pl.rational ? wsum : 1.0)));
      });
      MX_RETURN_IF_ERROR(withinBudget(m.points.size(), "B-spline surface"));
    }
  return Status::ok();
}

} // namespace mx::io::geometry
