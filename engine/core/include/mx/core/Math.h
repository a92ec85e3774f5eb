#pragma once
// Small value types shared by every library, host and device (no dependencies).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

namespace mx::core {

struct Vec3d {
  double x = 0, y = 0, z = 0;
  constexpr double operator[](int i) const { return i == 0 ? x : (i == 1 ? y : z); }
  friend constexpr Vec3d operator+(Vec3d a, Vec3d b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
  friend constexpr Vec3d operator-(Vec3d a, Vec3d b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
  friend constexpr Vec3d operator*(Vec3d a, double s) { return {a.x * s, a.y * s, a.z * s}; }
  friend constexpr bool operator==(Vec3d a, Vec3d b) = default;
};

inline double length(Vec3d v) { return std::sqrt(v.x * v.x + v.y * v.y + v.z * v.z); }

/// Axis-aligned box; an empty box has min > max.
template <typename T> struct BasicAabb {
  std::array<T, 3> min{std::numeric_limits<T>::max(), std::numeric_limits<T>::max(), std::numeric_limits<T>::max()};
  std::array<T, 3> max{std::numeric_limits<T>::lowest(), std::numeric_limits<T>::lowest(),
                       std::numeric_limits<T>::lowest()};

  [[nodiscard]] bool empty() const { return min[0] > max[0] || min[1] > max[1] || min[2] > max[2]; }
  void extend(T x, T y, T z) {
    min[0] = std::min(min[0], x);
    max[0] = std::max(max[0], x);
    min[1] = std::min(min[1], y);
    max[1] = std::max(max[1], y);
    min[2] = std::min(min[2], z);
    max[2] = std::max(max[2], z);
  }
  void extend(const BasicAabb& o) {
    for (int i = 0; i < 3; ++i) {
      min[i] = std::min(min[i], o.min[i]);
      max[i] = std::max(max[i], o.max[i]);
    }
  }
  [[nodiscard]] T extent(int axis) const { return empty() ? T(0) : max[axis] - min[axis]; }
  [[nodiscard]] T maxExtent() const { return std::max({extent(0), extent(1), extent(2)}); }
  [[nodiscard]] T diagonal() const {
    if (empty()) return T(0);
    T dx = extent(0), dy = extent(1), dz = extent(2);
    return std::sqrt(dx * dx + dy * dy + dz * dz);
  }
  /// True when `o` lies inside this box grown by `eps` on every side.
  [[nodiscard]] bool contains(const BasicAabb& o, T eps = T(0)) const {
    if (o.empty()) return true;
    for (int i = 0; i < 3; ++i)
      if (o.min[i] < min[i] - eps || o.max[i] > max[i] + eps) return false;
    return true;
  }
  friend bool operator==(const BasicAabb&, const BasicAabb&) = default;
};

using Aabb = BasicAabb<double>;
using Aabbf = BasicAabb<float>;

/// Column-major 4x4 affine transform, as 3D Tiles and glTF store it.
using Mat4d = std::array<double, 16>;

constexpr Mat4d identityMatrix() { return {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}; }

inline Mat4d multiply(const Mat4d& a, const Mat4d& b) {
  Mat4d r{};
  for (int c = 0; c < 4; ++c)
    for (int rr = 0; rr < 4; ++rr) {
      double s = 0;
      for (int k = 0; k < 4; ++k) s += a[k * 4 + rr] * b[c * 4 + k];
      r[c * 4 + rr] = s;
    }
  return r;
}

/// The cofactor matrix C of a transform's linear (upper 3×3) part, row-major (normals map as
/// n' = C·n: C = det · inverse transpose), with that part's determinant (negative when the
/// transform mirrors).
struct Cofactor3 {
  std::array<double, 9> c{};
  double det = 0;
  /// C with the sign of det taken out (|det| · inverse transpose): maps normals so that they stay
  /// on the front side of triangles whose winding is flipped when the transform mirrors.
  [[nodiscard]] std::array<double, 9> normalMatrix() const {
    std::array<double, 9> n = c;
    if (det < 0)
      for (double& x : n) x = -x;
    return n;
  }
};

inline Cofactor3 cofactor3(const Mat4d& m) {
  auto a = [&](int r, int col) { return m[size_t(col * 4 + r)]; };
  Cofactor3 k;
  k.c = {a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1), a(1, 2) * a(2, 0) - a(1, 0) * a(2, 2),
         a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0), a(0, 2) * a(2, 1) - a(0, 1) * a(2, 2),
         a(0, 0) * a(2, 2) - a(0, 2) * a(2, 0), a(0, 1) * a(2, 0) - a(0, 0) * a(2, 1),
         a(0, 1) * a(1, 2) - a(0, 2) * a(1, 1), a(0, 2) * a(1, 0) - a(0, 0) * a(1, 2),
         a(0, 0) * a(1, 1) - a(0, 1) * a(1, 0)};
  k.det = a(0, 0) * k.c[0] + a(0, 1) * k.c[1] + a(0, 2) * k.c[2];
  return k;
}

inline Vec3d transformPoint(const Mat4d& m, Vec3d p) {
  return {m[0] * p.x + m[4] * p.y + m[8] * p.z + m[12], m[1] * p.x + m[5] * p.y + m[9] * p.z + m[13],
          m[2] * p.x + m[6] * p.y + m[10] * p.z + m[14]};
}

} // namespace mx::core
