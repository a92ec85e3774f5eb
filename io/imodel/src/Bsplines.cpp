#include "Tessellation.h"

#include <algorithm>
#include <cmath>

namespace mx::io::geometry {

using core::Result;

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

/// Knots finite and non-decreasing.
bool validKnots(const std::vector<double>& k) {
  for (size_t i = 0; i < k.size(); ++i)
    if (!std::isfinite(k[i]) || (i > 0 && k[i] < k[i - 1])) return false;
  return true;
}

/// Reads `count` poles (3 doubles each, sizes already checked) and their weights; `what` names the
/// geometry in the error when a pole is not finite or a weight is not positive.
Result<Poles> readPoles(const flatbuffers::Vector<double>& xyz, const flatbuffers::Vector<double>* w, size_t count,
                        const char* what) {
  Poles p;
  p.rational = w && w->size() != 0;
  p.hom.resize(count);
  p.cart.resize(count);
  p.weights.assign(count, 1.0);
  for (size_t i = 0; i < count; ++i) {
    p.hom[i] = {xyz.Get(uint32_t(3 * i)), xyz.Get(uint32_t(3 * i + 1)), xyz.Get(uint32_t(3 * i + 2))};
    if (p.rational) p.weights[i] = w->Get(uint32_t(i));
    const Vec3d& h = p.hom[i];
    if (!std::isfinite(h.x) || !std::isfinite(h.y) || !std::isfinite(h.z) || !(p.weights[i] > 0) ||
        !std::isfinite(p.weights[i]))
      return imodelFail(ImodelError::Corrupt, std::string(what) + " with a non-finite pole or a weight ≤ 0");
    p.cart[i] = h * (1 / p.weights[i]);
  }
  return p;
}

/// Edges of one Bezier span as iTwin.js' native stroker counts them (imodel-native GeomLibs,
/// bsiBezierDPoint4d_estimateEdgeCount): at least degree; with θ the largest turn between
/// consecutive control-polygon edges (a zero-length edge counts as a right angle), (order - 2) ·
/// ceil(θ / angleTolerance) when θ exceeds the tolerance; with a chord tolerance,
/// ceil(1.25 · √(h / tol)) when h = longest polygon edge · sin(θ / 2) exceeds it.
int bezierEdgeCount(const std::vector<Vec3d>& p, const TessellationOptions& o) {
  const int order = int(p.size());
  int edges = order - 1;
  double longest = 0, minCos = 1;
  std::vector<Vec3d> unit(p.size() > 1 ? p.size() - 1 : 0);
  for (size_t i = 1; i < p.size(); ++i) {
    const Vec3d d = p[i] - p[i - 1];
    const double len = core::length(d);
    longest = std::max(longest, len);
    unit[i - 1] = len > 0 ? d * (1 / len) : Vec3d{0, 0, 0};
  }
  for (size_t i = 1; i < unit.size(); ++i)
    minCos = std::min(minCos, unit[i - 1].x * unit[i].x + unit[i - 1].y * unit[i].y + unit[i - 1].z * unit[i].z);
  const double turn = std::acos(std::clamp(minCos, -1.0, 1.0));
  if (o.chordTolerance > 0) {
    const double h = longest * std::sin(turn / 2);
    if (h > o.chordTolerance)
      edges = std::max(edges, saturatingInt(std::ceil(1.25 * std::sqrt(h / o.chordTolerance)), 1, 1 << 12));
  }
  if (o.angleTolerance > 0 && turn > o.angleTolerance)
    edges = std::max(edges, (order - 2) * saturatingInt(std::ceil(turn / o.angleTolerance), 1, 1 << 12));
  return std::min(edges, 1 << 12);
}

/// A B-spline curve (rational or not) stroked as iTwin.js strokes it: cut into Bezier spans, each
/// into bezierEdgeCount equal parameter steps.
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
  if (!validKnots(knots))
    return imodelFail(ImodelError::Corrupt, "B-spline curve knots are not finite and non-decreasing");
  MX_ASSIGN_OR_RETURN(const Poles p, readPoles(*poles, w, size_t(n), "B-spline curve"));
  std::vector<Hom> line;
  line.reserve(size_t(n));
  for (int i = 0; i < n; ++i)
    line.push_back({p.hom[size_t(i)].x, p.hom[size_t(i)].y, p.hom[size_t(i)].z, p.weights[size_t(i)]});
  std::vector<double> ts;
  for (int s : knotSpans(knots, n, order)) {
    std::vector<Vec3d> net;
    for (const Hom& h : bezierOfSpan(knots, line, order, s)) net.push_back(cartesian(h));
    const int steps = bezierEdgeCount(net, o);
    const double t0 = knots[size_t(s)], t1 = knots[size_t(s + 1)];
    for (int k = ts.empty() ? 0 : 1; k <= steps; ++k) ts.push_back(k == steps ? t1 : t0 + (t1 - t0) * k / steps);
    MX_RETURN_IF_ERROR(withinBudget(out.size() + ts.size(), "B-spline curve"));
  }
  double basis[32];
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

} // namespace mx::io::geometry
