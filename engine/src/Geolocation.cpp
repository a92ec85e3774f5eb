#include "Geolocation.h"

#include <cmath>

namespace mx::engine {

core::EcefLocation ecefAt(double longitudeDeg, double latitudeDeg, double height) {
  constexpr double kA = 6378137.0, kF = 1.0 / 298.257223563, kE2 = kF * (2 - kF); // WGS84
  const double lon = longitudeDeg * M_PI / 180, lat = latitudeDeg * M_PI / 180;
  const double sl = std::sin(lat), cl = std::cos(lat), so = std::sin(lon), co = std::cos(lon);
  const double n = kA / std::sqrt(1 - kE2 * sl * sl);
  core::EcefLocation e;
  e.origin = {(n + height) * cl * co, (n + height) * cl * so, (n * (1 - kE2) + height) * sl};
  e.xVector = {-so, co, 0};
  e.yVector = {-sl * co, -sl * so, cl};
  return e;
}

namespace {

/// Column-major ENU-style frame of an EcefLocation: columns x, y, x×y, origin.
core::Mat4d ecefMatrix(const core::EcefLocation& e) {
  const core::Vec3d x = e.xVector, y = e.yVector;
  core::Vec3d z{x.y * y.z - x.z * y.y, x.z * y.x - x.x * y.z, x.x * y.y - x.y * y.x};
  const double len = core::length(z);
  if (len > 0) z = z * (1.0 / len);
  return {x.x, x.y, x.z, 0, y.x, y.y, y.z, 0, z.x, z.y, z.z, 0, e.origin.x, e.origin.y, e.origin.z, 1};
}

} // namespace

/// Root frame → world: a translation to the scene centre, then the EcefLocation frame (the
/// --location option's, else the input's) when there is one.
core::Mat4d rootTransform(const core::Scene& scene, const ExportOptions& options, const core::Vec3d& center) {
  core::Mat4d translate = core::identityMatrix();
  translate[12] = center.x;
  translate[13] = center.y;
  translate[14] = center.z;
  // IMODEL tilesets live in iModel spatial coordinates (frontend-tiles places them itself).
  if (options.type == io::ExportType::Imodel) return translate;
  const auto& ecef = options.location ? options.location : scene.ecef;
  return ecef ? core::multiply(ecefMatrix(*ecef), translate) : translate;
}

} // namespace mx::engine
