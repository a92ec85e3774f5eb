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

/// An untrimmed B-spline surface (rational or not) as a grid of triangles.
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

} // namespace mx::io::geometry
