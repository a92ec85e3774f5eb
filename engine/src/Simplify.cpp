#include "Simplify.h"

#include "TileMeshOps.h"

#include <meshoptimizer.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace mx::engine {

using core::Aabbf;
using core::Result;
using core::Stage;
using core::TileMesh;

namespace {

/// One clustering pass at `cell` through the backend; the error is what the pass moved: the
/// largest vertex displacement, and for a triangle that collapsed, that displacement plus the
/// length of what it collapsed to (its area is gone from the tile).
Result<Simplified> clusterOnce(const TileMesh& u, const Aabbf& bounds, double cell, StageRunner& runner) {
  core::ClusterInput in{u.positions, u.classes, u.indices, bounds, float(cell)};
  core::ClusterOutput out;
  MX_RETURN_IF_ERROR(runner.run(Stage::Cluster, {u.vertexCount(), u.primitiveCount()},
                                [&](core::IComputeBackend& b) { return b.clusterVertices(in, out); }));
  Simplified s;
  s.cellSize = cell;
  double dropped2 = 0; // squared: one square root at the end (sqrt is monotonic and correctly rounded)
  auto dist2 = [](const float* a, const float* b) {
    return double(a[0] - b[0]) * (a[0] - b[0]) + double(a[1] - b[1]) * (a[1] - b[1]) +
           double(a[2] - b[2]) * (a[2] - b[2]);
  };
  for (size_t t = 0; t + 2 < u.indices.size(); t += 3) {
    const uint32_t r[3] = {out.remap[u.indices[t]], out.remap[u.indices[t + 1]], out.remap[u.indices[t + 2]]};
    if (r[0] != r[1] && r[1] != r[2] && r[0] != r[2]) continue;
    for (int k = 0; k < 3; ++k) {
      dropped2 =
          std::max(dropped2, dist2(&out.positions[3 * size_t(r[k])], &out.positions[3 * size_t(r[(k + 1) % 3])]));
    }
  }
  // Segments and points through the same cells: a segment whose ends share a cell collapses (its
  // length counts as dropped), repeats of a segment or point in one tile are drawn once.
  bool wireDropped = false;
  std::unordered_set<uint64_t> seen;
  for (size_t k = 0; k + 1 < u.lines.size(); k += 2) {
    const uint32_t a = out.remap[u.lines[k]], b = out.remap[u.lines[k + 1]];
    if (a == b) {
      wireDropped = true;
      dropped2 =
          std::max(dropped2, dist2(&u.positions[3 * size_t(u.lines[k])], &u.positions[3 * size_t(u.lines[k + 1])]));
      continue;
    }
    if (seen.insert(uint64_t(std::min(a, b)) << 32 | std::max(a, b)).second)
      s.mesh.lines.insert(s.mesh.lines.end(), {a, b});
  }
  std::vector<uint8_t> pointSeen(u.points.empty() ? 0 : out.classes.size(), 0);
  for (uint32_t p : u.points) {
    const uint32_t r = out.remap[p];
    if (pointSeen[r]) continue;
    pointSeen[r] = 1;
    s.mesh.points.push_back(r);
  }
  const double dropped = std::sqrt(dropped2);
  s.error = double(out.maxDisplacement) + (u.indices.size() != out.indices.size() || wireDropped ? dropped : 0.0);
  s.mesh.positions = std::move(out.positions);
  s.mesh.classes = std::move(out.classes);
  s.mesh.indices = std::move(out.indices);
  s.mesh.normals.assign(s.mesh.positions.size(), 0.0f);
  for (size_t v = 0; v < u.vertexCount(); ++v)
    for (int a = 0; a < 3; ++a) s.mesh.normals[3 * size_t(out.remap[v]) + size_t(a)] += u.normals[3 * v + size_t(a)];
  normalize(s.mesh.normals);
  compact(s.mesh);
  return s;
}

} // namespace

Result<Simplified> simplifyCluster(const TileMesh& u, double childCell, uint32_t target, StageRunner& runner) {
  const Aabbf bounds = u.bounds();
  const double extent = std::max<double>(bounds.maxExtent(), 1e-6);
  const double gridFloor = extent / (core::kMaxClusterGrid - 1); // 10-bit cell coordinates
  // A surface of area A on cells of size c occupies about A / c² cells and keeps about twice as
  // many triangles; start where that estimate meets the target, never finer than the children.
  double estimate = std::sqrt(surfaceArea(u) / (0.5 * target));
  // Linework of length L on cells of size c keeps about L / c segments; points spread over a box
  // whose two largest sides are a × b occupy at most a·b / c² cells.
  if (!u.lines.empty()) estimate = std::max(estimate, lineLength(u) / (0.5 * target));
  if (!u.points.empty()) {
    double e[3] = {bounds.max[0] - bounds.min[0], bounds.max[1] - bounds.min[1], bounds.max[2] - bounds.min[2]};
    std::sort(e, e + 3);
    estimate = std::max(estimate, std::sqrt(std::max(e[1], 1e-6) * e[2] / (0.5 * target)));
  }
  double cell = std::max({2 * childCell, gridFloor, estimate, 1e-6});
  Simplified best;
  for (int iter = 0; iter < 12; ++iter) {
    MX_ASSIGN_OR_RETURN(best, clusterOnce(u, bounds, cell, runner));
    const size_t tris = best.mesh.primitiveCount();
    if (tris <= target) break;
    cell *= std::max(1.25, 1.05 * std::sqrt(double(tris) / target));
  }
  return best;
}

Result<Simplified> simplifyQuadric(const TileMesh& u, double childCell, uint32_t target, StageRunner& runner) {
  Simplified s;
  s.mesh = u;
  if (u.triangleCount() > 0) {
    std::vector<uint32_t> dst(u.indices.size());
    float relError = 0;
    const size_t n =
        meshopt_simplify(dst.data(), u.indices.data(), u.indices.size(), u.positions.data(), u.vertexCount(), 12,
                         std::min<size_t>(u.indices.size(), size_t(target) * 3 / 2), 1.0f, 0, &relError);
    dst.resize(n);
    s.error = double(relError) * double(meshopt_simplifyScale(u.positions.data(), u.vertexCount(), 12));
    s.mesh.indices = std::move(dst);
    compact(s.mesh);
  }
  s.cellSize = childCell;
  if (s.mesh.primitiveCount() > target) {
    // Edge collapse stops at topology it must keep; clustering finishes the job.
    MX_ASSIGN_OR_RETURN(Simplified c, simplifyCluster(s.mesh, childCell, target, runner));
    c.error += s.error;
    return c;
  }
  return s;
}

} // namespace mx::engine
