#pragma once
// The export pipeline: read → prepare → partition → lod → quantize → write → validate.
// Deterministic: the same scene and config give byte-identical files, whatever the thread count.
#include <mx/core/CancelToken.h>
#include <mx/core/ExportMetrics.h>
#include <mx/core/Result.h>
#include <mx/core/Scene.h>
#include <mx/core/SceneBatches.h>
#include <mx/core/TileTree.h>
#include <mx/cpu/CpuLevel.h>
#include <mx/engine/TilerConfig.h>
#include <mx/io/TilesetModel.h>
#include <mx/io/TilesetValidator.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>

namespace mx::engine {

/// Progress of a stage in [0, 1]; called from the exporting thread.
using ProgressFn = std::function<void(std::string_view stage, double fraction)>;

struct ExportOptions {
  io::ExportType type = io::ExportType::ThreeDTiles;
  TilerConfig config;
  cpu::CpuLevel cpuLevel = cpu::defaultCpuLevel();
  bool overwrite = false; ///< Replace an existing non-empty output folder.
  /// Exports that may use the GPU at once (the service's workers): without tilerConfig
  /// deviceMemoryMB, this export's device budget is 1/deviceShare of 80 % of the free memory.
  unsigned deviceShare = 1;
  /// Places the scene on the earth (overrides the input's own EcefLocation); see ecefAt().
  std::optional<core::EcefLocation> location;
  ProgressFn progress; ///< Optional.
  const core::CancelToken* cancel = nullptr;
};

struct ExportResult {
  core::ExportMetrics metrics;
  io::ValidationReport validation;
};

/// The east-north-up frame at a WGS84 longitude/latitude (degrees) and ellipsoid height (metres):
/// scene x = east, y = north, z = up, scene origin at that point.
core::EcefLocation ecefAt(double longitudeDeg, double latitudeDeg, double height);

/// Reads `input` (.bim, .glb, .gltf) into a Scene, by extension; geometry not meshed is reported
/// in the warnings. `batches`: the scene is handed over in batches as it is read (SceneBatches.h).
core::Result<core::Scene> readScene(const std::filesystem::path& input, const TilerConfig& config = {},
                                    core::SceneBatches* batches = nullptr);

/// Builds the tile tree (partition + LOD) of `scene`; stage metrics go into `metrics`.
core::Result<core::TileTree> buildTileTree(const core::Scene& scene, const ExportOptions& options,
                                           core::ExportMetrics& metrics);

/// Tiles `scene` into `outDir`. Files are written to a temporary sibling folder, validated, and
/// renamed to `outDir` only when valid: on any error nothing is left at `outDir`.
core::Result<ExportResult> exportScene(const core::Scene& scene, const std::filesystem::path& outDir,
                                       const ExportOptions& options);

/// The same, taking the scene: its meshes are released once the pipeline holds its own copy,
/// which lowers the export's peak memory by the input mesh size.
core::Result<ExportResult> exportScene(core::Scene&& scene, const std::filesystem::path& outDir,
                                       const ExportOptions& options);

/// readScene + exportScene, with the read stage in the metrics. With tilerConfig memoryBudgetMB
/// the read is batched and an input that would not fit the budget in core is tiled out of core
/// (stages read, spill, merge, partition, lod, quantize, write, validate).
core::Result<ExportResult> exportFile(const std::filesystem::path& input, const std::filesystem::path& outDir,
                                      const ExportOptions& options);

} // namespace mx::engine
