#pragma once
// Stages write and validate, and the life of the output folder around them.
//   checkOutputFolder  before any work: the name is not empty; an existing path is a folder, and
//                      empty unless overwrite (--force)
//   OutputFolder       a temporary sibling `.<out>.tmp-<pid>-<n>` that the writer fills; removed
//                      when the export fails; publish() renames it to the output (an existing
//                      folder is moved aside first and removed after the rename)
//   writeStage         io::writeTileset of the model into the temporary folder; the report names
//                      the largest content (maxTileSize)
//   validateStage      io::validateTileset of the folder; any error fails the export with
//                      ValidationFailed (MESHEXPORT_KEEP_INVALID keeps the rejected folder)
#include <mx/core/ExportMetrics.h>
#include <mx/core/Result.h>
#include <mx/engine/Pipeline.h>
#include <mx/io/TilesetModel.h>

#include <filesystem>

namespace mx::engine {

core::Status checkOutputFolder(const std::filesystem::path& outDir, bool overwrite);

class OutputFolder {
public:
  static core::Result<OutputFolder> create(const std::filesystem::path& outDir);
  OutputFolder(OutputFolder&& other) noexcept;
  OutputFolder& operator=(OutputFolder&&) = delete;
  OutputFolder(const OutputFolder&) = delete;
  ~OutputFolder();

  [[nodiscard]] const std::filesystem::path& temp() const { return _temp; }
  /// Renames the temporary folder to the output, atomically.
  core::Status publish();
  /// Keeps a rejected temporary folder as `<out>.invalid` (debugging aid).
  void keepAsInvalid();

private:
  OutputFolder(std::filesystem::path outDir, std::filesystem::path temp)
      : _outDir(std::move(outDir)), _temp(std::move(temp)) {}
  std::filesystem::path _outDir, _temp; ///< _temp empty once published (or moved from).
};

/// What every export checks of its input (in core and out of core): something to tile, and for
/// IMODEL a model for every feature; the feature count and CPU level into the metrics.
core::Status checkInput(uint64_t primitives, const std::vector<core::Feature>& features, const ExportOptions& options,
                        core::ExportMetrics& metrics);

/// The writer's options of an export.
io::WriteOptions writeOptions(const ExportOptions& options);

core::Result<io::WriteReport> writeStage(const OutputFolder& folder, const io::TilesetModel& model,
                                         const ExportOptions& options, core::ExportMetrics& metrics);

core::Status validateStage(OutputFolder& folder, const ExportOptions& options, ExportResult& result);

} // namespace mx::engine
