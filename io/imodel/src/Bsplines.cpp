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

/// Parameters of a curve's stroke points: each non-empty knot span is divided into
/// max(1, ceil(turn / angleTolerance)) + extra equal steps, turn = the largest turning of the
/// control polygon over that span's poles among all rows. Curves (extra 0) give exportGraphics'
/// stroke counts on the extras fixture (order 2 and 3).
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

/// A B-spline curve (rational or not) stroked per knot span (gridParameters, extra 0).
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

} // namespace mx::io::geometry
