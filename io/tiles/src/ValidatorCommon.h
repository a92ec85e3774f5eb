#pragma once
// Helpers the validators share: axis-aligned bounds in double precision, and JSON number checks.
// Private to io/tiles; independent of the writers (a writer bug cannot hide behind shared code).
#include <mx/core/Math.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace mx::io::check {

inline constexpr double kMax = std::numeric_limits<double>::max();

struct Bounds {
  double min[3] = {kMax, kMax, kMax};
  double max[3] = {-kMax, -kMax, -kMax};
  bool empty() const { return min[0] > max[0]; }
  void extend(double x, double y, double z) {
    const double p[3] = {x, y, z};
    for (int a = 0; a < 3; ++a) {
      min[a] = std::min(min[a], p[a]);
      max[a] = std::max(max[a], p[a]);
    }
  }
  double diagonal() const {
    if (empty()) return 0;
    return std::sqrt((max[0] - min[0]) * (max[0] - min[0]) + (max[1] - min[1]) * (max[1] - min[1]) +
                     (max[2] - min[2]) * (max[2] - min[2]));
  }
  bool contains(const Bounds& o, double eps) const {
    if (o.empty()) return true;
    for (int a = 0; a < 3; ++a)
      if (o.min[a] < min[a] - eps || o.max[a] > max[a] + eps) return false;
    return true;
  }
};

/// Bounds of `b`'s 8 corners after `m`.
inline Bounds transformBounds(const core::Mat4d& m, const Bounds& b) {
  Bounds r;
  if (b.empty()) return r;
  for (int i = 0; i < 8; ++i) {
    const core::Vec3d p{(i & 1) ? b.max[0] : b.min[0], (i & 2) ? b.max[1] : b.min[1], (i & 4) ? b.max[2] : b.min[2]};
    const core::Vec3d q = core::transformPoint(m, p);
    r.extend(q.x, q.y, q.z);
  }
  return r;
}

inline bool numberArray(const nlohmann::json& j, size_t n) {
  if (!j.is_array() || j.size() != n) return false;
  for (const auto& v : j)
    if (!v.is_number() || !std::isfinite(v.get<double>())) return false;
  return true;
}

} // namespace mx::io::check
