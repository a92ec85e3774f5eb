#include "Lod.h"

#include "Simplify.h"
#include "TileMeshOps.h"

#include <mx/engine/Metrics.h>

#include <tbb/parallel_for.h>

#include <algorithm>
#include <span>

namespace mx::engine {

using core::Status;
using core::TileMesh;

std::vector<TileBuild> collapseBvh(const core::PartitionOutput& part) {
  std::vector<TileBuild> tiles;
  if (part.nodes.empty()) return tiles;
  tiles.push_back({0, 0, {}, {}, 0, 0});
  for (size_t i = 0; i < tiles.size(); ++i) {
    const int32_t bvh = tiles[i].bvh;
    if (part.nodes[size_t(bvh)].isLeaf()) continue;
    std::vector<int32_t> frontier{bvh};
    for (int depth = 0; depth < kBvhLevelsPerTile; ++depth) {
      std::vector<int32_t> next;
      for (int32_t f : frontier) {
        const auto& n = part.nodes[size_t(f)];
        if (n.isLeaf()) {
          next.push_back(f);
          continue;
        }
        next.push_back(n.left);
        next.push_back(n.right);
      }
      if (next.size() == frontier.size()) break;
      frontier = std::move(next);
    }
    const uint32_t level = tiles[i].level + 1;
    for (int32_t f : frontier) {
      tiles[i].children.push_back(uint32_t(tiles.size()));
      tiles.push_back({f, level, {}, {}, 0, 0});
    }
  }
  return tiles;
}

namespace {

/// Leaves: their triangles at full detail.
void gatherLeaves(std::vector<TileBuild>& tiles, const TileMesh& all, const core::PartitionOutput& part) {
  std::vector<uint32_t> leaves;
  for (uint32_t i = 0; i < tiles.size(); ++i)
    if (tiles[i].children.empty()) leaves.push_back(i);
  tbb::parallel_for(size_t(0), leaves.size(), [&](size_t k) {
    TileBuild& t = tiles[leaves[k]];
    const auto& n = part.nodes[size_t(t.bvh)];
    t.mesh = gatherLeaf(all, std::span(part.order).subspan(n.begin, n.count()));
  });
}

/// One parent: the union of its children, simplified to fit.
Status simplifyParent(std::vector<TileBuild>& tiles, uint32_t id, const TilerConfig& cfg, StageRunner& runner) {
  TileBuild& t = tiles[id];
  std::vector<const TileMesh*> parts;
  double childError = 0, childCell = 0;
  for (uint32_t c : t.children) {
    parts.push_back(&tiles[c].mesh);
    childError = std::max(childError, tiles[c].error);
    childCell = std::max(childCell, tiles[c].cellSize);
  }
  const TileMesh u = concatenate(parts);
  auto r = cfg.simplifier == Simplifier::Quadric ? simplifyQuadric(u, childCell, cfg.maxTrianglesPerTile, runner)
                                                 : simplifyCluster(u, childCell, cfg.maxTrianglesPerTile, runner);
  if (!r) return r.status();
  t.mesh = std::move(r->mesh);
  t.error = childError + r->error;
  t.cellSize = r->cellSize;
  return Status::ok();
}

} // namespace

/// Parents, deepest level first; the tiles of one level in parallel.
Status simplifyParents(std::vector<TileBuild>& tiles, const ExportOptions& options, StageRunner& runner) {
  uint32_t maxLevel = 0;
  for (const auto& t : tiles) maxLevel = std::max(maxLevel, t.level);
  std::vector<std::vector<uint32_t>> byLevel(maxLevel + 1);
  for (uint32_t i = 0; i < tiles.size(); ++i)
    if (!tiles[i].children.empty()) byLevel[tiles[i].level].push_back(i);
  for (uint32_t level = maxLevel + 1; level-- > 0;) {
    MX_RETURN_IF_ERROR(checkCancel(options));
    progress(options, "lod", double(maxLevel - level) / double(maxLevel + 1));
    const auto& ids = byLevel[level];
    std::vector<Status> statuses(ids.size());
    tbb::parallel_for(size_t(0), ids.size(),
                      [&](size_t k) { statuses[k] = simplifyParent(tiles, ids[k], options.config, runner); });
    for (const Status& s : statuses) MX_RETURN_IF_ERROR(s);
  }
  return Status::ok();
}

Status runLod(TileMesh&& mesh, core::PartitionOutput&& part, const ExportOptions& options, core::ExportMetrics& metrics,
              StageRunner& runner, std::vector<TileBuild>& tiles) {
  StageTimer timer(metrics, "lod");
  const core::DeviceMemoryStats device0 = runner.device();
  progress(options, "lod", 0);
  tiles = collapseBvh(part);
  if (tiles.empty()) return Status::ok(); // no triangles: an empty tree
  gatherLeaves(tiles, mesh, part);
  mesh = {}; // the flat mesh is no longer needed
  part = {};
  MX_RETURN_IF_ERROR(simplifyParents(tiles, options, runner));
  runner.describe(core::Stage::Cluster, timer.stage());
  runner.recordDevice(timer.stage(), device0);
  if (options.config.simplifier == Simplifier::Quadric) {
    timer.stage().backend =
        "cpu (meshoptimizer)" + (timer.stage().backend == "-" ? std::string() : "+" + timer.stage().backend);
    timer.stage().reason = "simplifier=quadric runs meshopt_simplify on the CPU";
  }
  timer.stage().itemsIn = metrics.stages.back().itemsIn; // triangles partitioned
  uint64_t out = 0;
  for (const auto& t : tiles) out += t.mesh.primitiveCount();
  timer.stage().itemsOut = out;
  return Status::ok();
}

} // namespace mx::engine
