#include "Quantize.h"

#include "Geolocation.h"
#include "TileMeshOps.h"

#include <mx/engine/Metrics.h>

#include <tbb/parallel_for.h>

#include <algorithm>
#include <string>
#include <unordered_map>

namespace mx::engine {

using core::Aabb;
using core::Aabbf;
using core::Result;
using core::Stage;
using core::Status;
using core::TileMesh;

namespace {

/// Grows flat axes so every box has volume (clients build oriented boxes from the half axes).
Aabb padded(Aabb b) {
  if (b.empty()) return b;
  const double eps = 1e-6 * std::max(1.0, b.diagonal());
  for (int a = 0; a < 3; ++a)
    if (b.max[a] - b.min[a] < 2 * eps) {
      b.min[a] -= eps;
      b.max[a] += eps;
    }
  return b;
}

/// Colours and the tile's feature table (local ids in first-use order) of content `c`.
void fillFeatures(const TileMesh& m, const std::vector<core::VertexClass>& classes, const core::Scene& scene,
                  io::TileContent& c) {
  const size_t vc = m.vertexCount();
  c.colors.resize(vc);
  c.featureIds.resize(vc);
  std::unordered_map<uint32_t, uint32_t> local;
  for (size_t v = 0; v < vc; ++v) {
    const core::VertexClass& cls = classes[m.classes[v]];
    c.colors[v] = cls.rgba;
    auto [it, added] = local.try_emplace(cls.feature, uint32_t(c.features.size()));
    if (added) {
      const core::Feature& f = scene.features[cls.feature];
      c.features.push_back({f.elementId, f.modelId, f.subCategoryId});
    }
    c.featureIds[v] = it->second;
  }
}

/// One tile's mesh → its content (the mesh is released); `contentBox` receives the content
/// bounds in the root frame, from the quantization box (what clients will decode).
Status quantizeTile(TileMesh& m, const TreeWork& work, const core::Scene& scene, const TilerConfig& cfg,
                    StageRunner& runner, io::TileContent& c, Aabb& contentBox) {
  // Linework's vertices last (they have no normals); a tile without any is left as it is.
  const size_t surface = m.wireCount() ? surfaceVerticesFirst(m) : m.vertexCount();
  const size_t vc = m.vertexCount();
  // Root frame (z up) → glTF frame (y up): (x, y, z) → (x, z, -y).
  std::vector<float> gpos(3 * vc), gnrm(3 * vc);
  for (size_t v = 0; v < vc; ++v) {
    gpos[3 * v] = m.positions[3 * v];
    gpos[3 * v + 1] = m.positions[3 * v + 2];
    gpos[3 * v + 2] = -m.positions[3 * v + 1];
    gnrm[3 * v] = m.normals[3 * v];
    gnrm[3 * v + 1] = m.normals[3 * v + 2];
    gnrm[3 * v + 2] = -m.normals[3 * v + 1];
  }
  Aabbf gbox;
  for (size_t v = 0; v < vc; ++v) gbox.extend(gpos[3 * v], gpos[3 * v + 1], gpos[3 * v + 2]);
  core::QuantizeOutput q;
  core::QuantizeInput qin{gpos, gnrm, gbox};
  MX_RETURN_IF_ERROR(runner.run(Stage::Quantize, {vc, m.primitiveCount()},
                                [&](core::IComputeBackend& b) { return b.quantize(qin, q); }));
  c.quantized = cfg.quantizePositions;
  if (c.quantized) {
    c.positionsQ = std::move(q.positions);
    for (int a = 0; a < 3; ++a) {
      c.translation[size_t(a)] = gbox.min[a];
      c.scale[size_t(a)] = q.scale[size_t(a)];
    }
  } else {
    c.positions = std::move(gpos);
  }
  c.normalsQ = std::move(q.normals);
  if (!c.normalsQ.empty()) c.normalsQ.resize(4 * surface);
  fillFeatures(m, work.classes, scene, c);
  c.indices = std::move(m.indices);
  c.lines = std::move(m.lines);
  c.points = std::move(m.points);
  c.wireVertices = uint32_t(vc - surface);
  Aabb cb;
  cb.min = {gbox.min[0], -double(gbox.max[2]), gbox.min[1]};
  cb.max = {gbox.max[0], -double(gbox.min[2]), gbox.max[1]};
  contentBox = padded(cb);
  m = {};
  return Status::ok();
}

/// Tileset nodes: children, errors, content names per level, then boxes bottom-up (children
/// follow parents in breadth-first order); tiles and triangles per level into the metrics.
void assembleNodes(const TreeWork& work, const std::vector<int32_t>& contentOf, const std::vector<Aabb>& contentBoxes,
                   const ExportOptions& options, const SubtreeNaming* naming, io::TilesetModel& model,
                   core::ExportMetrics& metrics) {
  const size_t n = work.tiles.size();
  std::vector<uint32_t> ownCount;
  std::vector<uint32_t>& levelCount = naming && naming->levelCount ? *naming->levelCount : ownCount;
  const uint32_t offset = naming ? naming->levelOffset : 0;
  for (size_t i = 0; i < n; ++i) {
    const TileBuild& t = work.tiles[i];
    const uint32_t level = offset + t.level;
    if (levelCount.size() <= level) levelCount.resize(level + 1, 0);
    const uint32_t indexInLevel = levelCount[level]++;
    io::TilesetNode& node = model.nodes[i];
    node.children = t.children;
    node.geometricError = t.children.empty() ? 0.0 : t.error * options.config.geometricErrorScale;
    node.content = contentOf[i];
    if (node.content >= 0) {
      node.uri = std::to_string(level) + "-" + std::to_string(indexInLevel) +
                 (options.type == io::ExportType::Imodel                   ? ".imdl"
                  : options.config.outputFormat == io::ContentFormat::B3dm ? ".b3dm"
                                                                           : ".glb");
      node.contentBox = contentBoxes[i];
    }
  }
  recomputeBoxes(model, n);
  if (!naming) {
    metrics.tilesPerLevel.clear();
    metrics.trianglesPerLevel.clear();
    metrics.tiles = 0;
  }
  metrics.tilesPerLevel.resize(std::max(metrics.tilesPerLevel.size(), levelCount.size()), 0);
  metrics.trianglesPerLevel.resize(metrics.tilesPerLevel.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t level = offset + work.tiles[i].level;
    ++metrics.tilesPerLevel[level];
    if (contentOf[i] >= 0) metrics.trianglesPerLevel[level] += model.contents[size_t(contentOf[i])].indices.size() / 3;
  }
  metrics.tiles += n;
}

} // namespace

void recomputeBoxes(io::TilesetModel& model, size_t from) {
  for (size_t i = std::min(from, model.nodes.size()); i-- > 0;) {
    io::TilesetNode& node = model.nodes[i];
    Aabb box = node.content >= 0 ? node.contentBox : Aabb{};
    for (uint32_t c : node.children) box.extend(model.nodes[c].box);
    node.box = padded(box);
  }
}

double tilesetError(const io::TilesetModel& model) {
  if (model.nodes.empty()) return 0;
  return std::max(model.nodes[0].geometricError * 2, model.nodes[0].box.diagonal());
}

Result<io::TilesetModel> runQuantize(TreeWork& work, const core::Scene& scene, const ExportOptions& options,
                                     core::ExportMetrics& metrics, StageRunner& runner, const SubtreeNaming* naming) {
  io::TilesetModel model;
  const size_t n = work.tiles.size();
  model.nodes.resize(n);
  std::vector<int32_t> contentOf(n, -1);
  for (size_t i = 0; i < n; ++i)
    if (work.tiles[i].mesh.primitiveCount() > 0) {
      contentOf[i] = int32_t(model.contents.size());
      model.contents.emplace_back();
    }
  StageTimer timer(metrics, "quantize");
  const core::DeviceMemoryStats device0 = runner.device();
  progress(options, "quantize", 0);
  std::vector<Status> statuses(n);
  std::vector<Aabb> contentBoxes(n);
  tbb::parallel_for(size_t(0), n, [&](size_t i) {
    if (contentOf[i] < 0) return;
    statuses[i] = quantizeTile(work.tiles[i].mesh, work, scene, options.config, runner,
                               model.contents[size_t(contentOf[i])], contentBoxes[i]);
  });
  for (const Status& s : statuses) MX_RETURN_IF_ERROR(s);
  runner.describe(Stage::Quantize, timer.stage());
  runner.recordDevice(timer.stage(), device0);
  timer.stage().itemsIn = model.contents.size();
  timer.finish();

  assembleNodes(work, contentOf, contentBoxes, options, naming, model, metrics);
  model.rootTransform = rootTransform(scene, options, work.center);
  model.geometricError = tilesetError(model);
  return model;
}

} // namespace mx::engine
