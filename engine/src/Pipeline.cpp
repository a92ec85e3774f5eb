// The export pipeline, stage by stage (each stage's contract is in its header):
//   read      Read.cpp          input file → Scene
//   prepare   Prepare.h         Scene → one flat mesh in the root frame + vertex classes
//   partition Partition.h       backend: Morton codes → sort → BVH (leaves ≤ maxTrianglesPerTile)
//   lod       Lod.h/Simplify.h  BVH → tile tree; leaves full detail, parents simplified (backend)
//   quantize  Quantize.h        backend: tile meshes → TilesetModel (uint16 positions, features)
//   write     OutputFolder.h    io/tiles writer into a temporary folder (maxTileSize: again from
//                               prepare with fewer triangles a tile while a written tile is over)
//   validate  OutputFolder.h    io/tiles validator; only a valid folder is published
// StageRunner.h dispatches the backend stages and falls back to the CPU; Geolocation.h places
// the tileset on the earth.
#include "Geolocation.h"
#include "Lod.h"
#include "OutOfCore.h"
#include "OutputFolder.h"
#include "Partition.h"
#include "Prepare.h"
#include "Quantize.h"
#include "StageRunner.h"

#include <mx/engine/BackendRegistry.h>
#include <mx/engine/Metrics.h>
#include <mx/engine/Pipeline.h>

#include <chrono>
#include <optional>

namespace mx::engine {

using core::Aabb;
using core::ErrorCode;
using core::Result;
using core::Status;

namespace {

/// prepare → partition → lod.
Result<TreeWork> buildTree(const core::Scene& scene, const ExportOptions& options, core::ExportMetrics& metrics,
                           StageRunner& runner, core::Scene* owned = nullptr) {
  TreeWork work;
  MX_ASSIGN_OR_RETURN(Prepared prepared, runPrepare(scene, options, metrics, owned));
  work.classes = std::move(prepared.classes);
  work.center = prepared.center;
  MX_RETURN_IF_ERROR(checkCancel(options));
  MX_ASSIGN_OR_RETURN(core::PartitionOutput part, runPartition(prepared.mesh, options, metrics, runner));
  MX_RETURN_IF_ERROR(checkCancel(options));
  MX_RETURN_IF_ERROR(runLod(std::move(prepared.mesh), std::move(part), options, metrics, runner, work.tiles));
  return work;
}

Aabb toDouble(const core::Aabbf& f) {
  Aabb b;
  if (f.empty()) return b;
  for (int a = 0; a < 3; ++a) {
    b.min[a] = f.min[a];
    b.max[a] = f.max[a];
  }
  return b;
}

/// What the export checks of its input before any stage runs; the input's size into the metrics.
Status checkScene(const core::Scene& scene, const ExportOptions& options, core::ExportMetrics& metrics) {
  MX_RETURN_IF_ERROR(checkInput(scene.triangleCount() + scene.wireCount(), scene.features, options, metrics));
  metrics.trianglesIn = scene.triangleCount();
  metrics.lineSegmentsIn = scene.lineSegmentCount();
  metrics.pointsIn = scene.pointCount();
  metrics.verticesIn = scene.vertexCount();
  metrics.inputBytes = scene.byteSize();
  return Status::ok();
}

/// The smaller maxTrianglesPerTile of the next maxTileSize attempt: the limit scaled by how far the
/// largest tile is over (with a 10 % margin), at least one less, never under 64. A tile of 64
/// triangles over the limit, or a 12th attempt, is an error that names the tile.
Result<uint32_t> fewerTrianglesPerTile(const TilerConfig& config, const io::WriteReport& written, int tries) {
  constexpr uint32_t kFewest = 64;
  const uint64_t limit = uint64_t(config.maxTileSizeKiB) * 1024;
  const uint32_t now = config.maxTrianglesPerTile;
  if (now <= kFewest || tries >= 12)
    return Status{ErrorCode::InvalidArgument,
                  "tilerConfig maxTileSize " + std::to_string(config.maxTileSizeKiB) + " KiB cannot be met: " +
                      written.largestContent + " is " + std::to_string(written.largestContentBytes) +
                      " bytes with maxTrianglesPerTile " + std::to_string(now) + " (raise maxTileSize)"};
  const double scaled = double(now) * double(limit) / double(written.largestContentBytes) * 0.9;
  return std::max(kFewest, std::min(now - 1, uint32_t(std::max(0.0, scaled))));
}

void recordDeviceTotals(const BackendSet& backends, core::ExportMetrics& metrics) {
  if (!backends.gpu()) return;
  const core::DeviceMemoryStats d = backends.gpu()->memoryStats();
  metrics.peakDeviceBytes = d.peakBytes;
  metrics.hostToDeviceBytes = d.hostToDeviceBytes;
  metrics.deviceToHostBytes = d.deviceToHostBytes;
}

/// prepare … validate, then publish. `owned`: see runPrepare. `backendsIn` null: they are chosen
/// once the scene has passed its checks.
Result<ExportResult> exportImpl(const core::Scene& scene, core::Scene* owned, const std::filesystem::path& outDir,
                                const ExportOptions& options, const BackendSet* backendsIn) {
  const auto start = std::chrono::steady_clock::now();
  ExportResult result;
  core::ExportMetrics& metrics = result.metrics;
  MX_RETURN_IF_ERROR(checkOutputFolder(outDir, options.overwrite));
  MX_RETURN_IF_ERROR(checkTilerConfig(options.config, options.type));
  MX_RETURN_IF_ERROR(checkScene(scene, options, metrics));
  std::optional<BackendSet> created;
  if (!backendsIn) {
    MX_ASSIGN_OR_RETURN(BackendSet set,
                        BackendSet::create(options.config.device, options.cpuLevel, backendOptions(options)));
    created.emplace(std::move(set));
  }
  const BackendSet& backends = backendsIn ? *backendsIn : *created;
  if (backends.gpu()) metrics.gpuName = backends.gpu()->deviceName();
  StageRunner runner(backends);

  // maxTileSize: tiled again with fewer triangles a tile while the largest written tile is over it
  // (the scene is kept whole for that, so `owned` is not released).
  const uint64_t maxTileBytes = uint64_t(options.config.maxTileSizeKiB) * 1024;
  ExportOptions attempt = options;
  const core::ExportMetrics before = metrics;
  std::optional<OutputFolder> folder;
  for (int tries = 1;; ++tries) {
    MX_ASSIGN_OR_RETURN(TreeWork work, buildTree(scene, attempt, metrics, runner, maxTileBytes ? nullptr : owned));
    MX_RETURN_IF_ERROR(checkCancel(options));
    MX_ASSIGN_OR_RETURN(io::TilesetModel model, runQuantize(work, scene, attempt, metrics, runner));
    work = {};
    MX_RETURN_IF_ERROR(checkCancel(options));
    folder.reset();
    MX_ASSIGN_OR_RETURN(OutputFolder made, OutputFolder::create(outDir));
    folder.emplace(std::move(made));
    MX_ASSIGN_OR_RETURN(io::WriteReport written, writeStage(*folder, model, attempt, metrics));
    model = {};
    MX_RETURN_IF_ERROR(checkCancel(options));
    if (!maxTileBytes || written.largestContentBytes <= maxTileBytes) break;
    MX_ASSIGN_OR_RETURN(uint32_t fewer, fewerTrianglesPerTile(attempt.config, written, tries));
    const std::string why =
        "maxTileSize " + std::to_string(options.config.maxTileSizeKiB) + " KiB: " + written.largestContent + " was " +
        std::to_string(written.largestContentBytes / 1024) + " KiB with maxTrianglesPerTile " +
        std::to_string(attempt.config.maxTrianglesPerTile) + "; tiled again with " + std::to_string(fewer);
    std::vector<std::string> warnings = std::move(metrics.warnings);
    warnings.push_back(why);
    metrics = before; // the stages of the discarded attempt are not this export's
    metrics.warnings = std::move(warnings);
    attempt.config.maxTrianglesPerTile = fewer;
  }
  MX_RETURN_IF_ERROR(validateStage(*folder, options, result));
  MX_RETURN_IF_ERROR(folder->publish());

  progress(options, "done", 1);
  recordDeviceTotals(backends, metrics);
  metrics.wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  recordProcessUsage(metrics);
  return result;
}

} // namespace

Result<core::TileTree> buildTileTree(const core::Scene& scene, const ExportOptions& options,
                                     core::ExportMetrics& metrics) {
  MX_ASSIGN_OR_RETURN(BackendSet backends,
                      BackendSet::create(options.config.device, options.cpuLevel, backendOptions(options)));
  StageRunner runner(backends);
  MX_ASSIGN_OR_RETURN(TreeWork work, buildTree(scene, options, metrics, runner));
  core::TileTree tree;
  tree.classes = std::move(work.classes);
  std::vector<uint32_t> levelCount;
  for (auto& t : work.tiles) {
    core::TileNode node;
    node.level = t.level;
    if (levelCount.size() <= t.level) levelCount.resize(t.level + 1, 0);
    node.indexInLevel = levelCount[t.level]++;
    node.geometricError = t.children.empty() ? 0 : t.error;
    node.children = t.children;
    node.mesh = std::move(t.mesh);
    tree.nodes.push_back(std::move(node));
  }
  for (size_t i = tree.nodes.size(); i-- > 0;) {
    Aabb box = toDouble(tree.nodes[i].mesh.bounds());
    for (uint32_t c : tree.nodes[i].children) box.extend(tree.nodes[c].box);
    tree.nodes[i].box = box;
  }
  tree.rootTransform = rootTransform(scene, options, work.center);
  return tree;
}

Result<ExportResult> exportScene(const core::Scene& scene, const std::filesystem::path& outDir,
                                 const ExportOptions& options) {
  return exportImpl(scene, nullptr, outDir, options, nullptr);
}

Result<ExportResult> exportScene(core::Scene&& scene, const std::filesystem::path& outDir,
                                 const ExportOptions& options) {
  return exportImpl(scene, &scene, outDir, options, nullptr);
}

Result<ExportResult> exportFile(const std::filesystem::path& input, const std::filesystem::path& outDir,
                                const ExportOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  MX_RETURN_IF_ERROR(checkOutputFolder(outDir, options.overwrite));
  MX_RETURN_IF_ERROR(checkTilerConfig(options.config, options.type));
  // The backends first: device=cuda without a usable GPU says so before a read that may take minutes.
  MX_ASSIGN_OR_RETURN(BackendSet backends,
                      BackendSet::create(options.config.device, options.cpuLevel, backendOptions(options)));
  // Under a memory budget the reader hands the scene over in batches: kept while it fits in core,
  // tiled out of core from the first batch that would not (OutOfCore.h).
  std::optional<StreamingExport> streaming;
  core::SceneBatches batches;
  if (options.config.memoryBudgetMB > 0) {
    const BudgetPlan plan = BudgetPlan::of(options.config.memoryBudgetMB, options.config.maxTrianglesPerTile);
    streaming.emplace(outDir, options, plan, backends);
    batches.primitives = plan.batchPrimitives;
    batches.take = [&streaming, &batches](core::Scene& s, size_t upcoming) {
      return streaming->take(s, upcoming, batches.declaredBounds);
    };
  }
  core::ExportMetrics readMetrics;
  std::vector<std::string> warnings;
  core::Scene scene;
  double readMs = 0;
  {
    StageTimer timer(readMetrics, "read");
    progress(options, "read", 0);
    auto r = readScene(input, options.config, streaming ? &batches : nullptr);
    if (!r) return r.status();
    warnings = r.warnings();
    scene = std::move(r).value();
    timer.stage().itemsOut = scene.triangleCount();
    readMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }
  ExportResult result;
  if (streaming && streaming->streaming()) {
    MX_ASSIGN_OR_RETURN(result, streaming->finish(scene, readMs));
    recordDeviceTotals(backends, result.metrics);
    recordProcessUsage(result.metrics);
  } else {
    MX_ASSIGN_OR_RETURN(result, exportImpl(scene, &scene, outDir, options, &backends));
    result.metrics.stages.insert(result.metrics.stages.begin(), readMetrics.stages.begin(), readMetrics.stages.end());
  }
  result.metrics.warnings.insert(result.metrics.warnings.begin(), warnings.begin(), warnings.end());
  result.metrics.wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

} // namespace mx::engine
