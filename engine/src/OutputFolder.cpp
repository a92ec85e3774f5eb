#include "OutputFolder.h"

#include "StageRunner.h"

#include <mx/engine/Metrics.h>
#include <mx/io/TilesetWriter.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace mx::engine {

using core::ErrorCode;
using core::Status;
namespace fs = std::filesystem;

namespace {

fs::path temporarySibling(const fs::path& outDir, const char* tag) {
  static std::atomic<unsigned> counter{0};
  const auto parent = outDir.parent_path().empty() ? fs::path(".") : outDir.parent_path();
  return parent / ("." + outDir.filename().string() + "." + tag + "-" + std::to_string(getpid()) + "-" +
                   std::to_string(counter++));
}

} // namespace

Status checkOutputFolder(const fs::path& outDir, bool overwrite) {
  std::error_code ec;
  if (outDir.filename().empty()) return {ErrorCode::InvalidArgument, "output folder name is empty: " + outDir.string()};
  if (!fs::exists(outDir, ec)) return Status::ok();
  if (!fs::is_directory(outDir, ec)) return {ErrorCode::IoError, outDir.string() + " exists and is not a folder"};
  if (!overwrite && !fs::is_empty(outDir, ec))
    return {ErrorCode::IoError, outDir.string() + " exists and is not empty (use --force to replace it)"};
  return Status::ok();
}

core::Result<OutputFolder> OutputFolder::create(const fs::path& outDir) {
  const fs::path tmp = temporarySibling(outDir, "tmp");
  std::error_code ec;
  fs::create_directories(tmp, ec);
  if (ec) return Status{ErrorCode::IoError, "cannot create " + tmp.string() + ": " + ec.message()};
  return OutputFolder(outDir, tmp);
}

OutputFolder::OutputFolder(OutputFolder&& other) noexcept
    : _outDir(std::move(other._outDir)), _temp(std::move(other._temp)) {
  other._temp.clear();
}

OutputFolder::~OutputFolder() {
  std::error_code ec;
  if (!_temp.empty()) fs::remove_all(_temp, ec);
}

Status OutputFolder::publish() {
  std::error_code ec;
  fs::path old;
  if (fs::exists(_outDir, ec)) {
    old = temporarySibling(_outDir, "old");
    fs::rename(_outDir, old, ec);
    if (ec) return {ErrorCode::IoError, "cannot move " + _outDir.string() + " aside: " + ec.message()};
  }
  fs::rename(_temp, _outDir, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, _outDir, ec);
    return {ErrorCode::IoError, "cannot rename " + _temp.string() + " to " + _outDir.string() + ": " + ec.message()};
  }
  _temp.clear();
  if (!old.empty()) fs::remove_all(old, ec);
  return Status::ok();
}

void OutputFolder::keepAsInvalid() {
  std::error_code ec;
  const auto kept = _outDir.parent_path() / (_outDir.filename().string() + ".invalid");
  fs::remove_all(kept, ec);
  fs::rename(_temp, kept, ec);
}

Status checkInput(uint64_t primitives, const std::vector<core::Feature>& features, const ExportOptions& options,
                  core::ExportMetrics& metrics) {
  if (primitives == 0) return Status{ErrorCode::MalformedInput, "the input has no triangles, lines or points to tile"};
  if (options.type == io::ExportType::Imodel)
    for (const core::Feature& f : features)
      if (f.modelId == 0)
        return Status{
            ErrorCode::InvalidArgument,
            "exportType IMODEL needs an iModel input: every feature must belong to a model (this input has none)"};
  metrics.features = features.size();
  metrics.cpuLevel = options.cpuLevel == cpu::CpuLevel::Scalar ? "scalar" : cpu::simdTargetName();
  return Status::ok();
}

io::WriteOptions writeOptions(const ExportOptions& options) {
  io::WriteOptions wopts;
  wopts.type = options.type;
  wopts.meshoptCompression = options.config.meshoptCompression;
  wopts.format = options.config.outputFormat;
  wopts.generator = "meshexport " MESHEXPORT_VERSION;
  return wopts;
}

core::Result<io::WriteReport> writeStage(const OutputFolder& folder, const io::TilesetModel& model,
                                         const ExportOptions& options, core::ExportMetrics& metrics) {
  const io::WriteOptions wopts = writeOptions(options);
  StageTimer timer(metrics, "write");
  progress(options, "write", 0);
  MX_ASSIGN_OR_RETURN(io::WriteReport report, io::writeTileset(model, folder.temp(), wopts));
  timer.stage().itemsIn = model.nodes.size();
  timer.stage().itemsOut = report.files;
  timer.stage().bytes = report.bytes;
  metrics.outputBytes = report.bytes;
  return report;
}

Status validateStage(OutputFolder& folder, const ExportOptions& options, ExportResult& result) {
  {
    StageTimer timer(result.metrics, "validate");
    progress(options, "validate", 0);
    MX_ASSIGN_OR_RETURN(result.validation, io::validateTileset(folder.temp()));
    timer.stage().itemsIn = result.validation.tiles;
    timer.stage().itemsOut = result.validation.errors.size();
    timer.stage().bytes = result.validation.bytes;
  }
  if (result.validation.ok()) return Status::ok();
  if (const char* keep = std::getenv("MESHEXPORT_KEEP_INVALID"); keep && *keep) folder.keepAsInvalid();
  const auto& errors = result.validation.errors;
  std::string msg = "the written tileset failed validation (" + std::to_string(errors.size()) + " errors): ";
  for (size_t i = 0; i < std::min<size_t>(5, errors.size()); ++i) msg += (i ? "; " : "") + errors[i];
  return Status{ErrorCode::ValidationFailed, msg};
}

} // namespace mx::engine
