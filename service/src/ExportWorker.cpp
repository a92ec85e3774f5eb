#include "ExportWorker.h"

#include "Files.h"

#include <spdlog/spdlog.h>

#include <sys/statvfs.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace mx::service {

namespace fs = std::filesystem;
using nlohmann::json;

void ExportWorker::loop(const Slot& slot) {
  while (auto job = _jobs.next(slot)) {
    try {
      run(*job);
    } catch (const std::exception& e) {
      spdlog::error("export {}: internal error: {}", job->id, e.what());
      (void)_jobs.finish(*job, ExportStatus::Invalid, std::string("Internal error: ") + e.what());
    }
    if (_jobs.finishRun(job->id)) spdlog::info("export {} cancelled and deleted", job->id);
  }
}

std::vector<std::string> ExportWorker::tilerArguments(const ExportRecord& rec, const Slot& slot,
                                                      const fs::path& outDir) const {
  const fs::path jobDir = _dir.jobs() / rec.id;
  std::vector<std::string> argv = {_config.tilerPath.string(),
                                   "tile",
                                   rec.imodelPath,
                                   "-o",
                                   outDir.string(),
                                   "--force",
                                   "--type",
                                   rec.typeClass == "CESIUM"   ? "cesium"
                                   : rec.typeClass == "IMODEL" ? "imodel"
                                                               : "3dtiles",
                                   "--metrics",
                                   (jobDir / "metrics.json").string(),
                                   "--memory-budget-mb",
                                   std::to_string(_config.memoryBudgetMB)};
  // A `cuda` export reaches a CPU slot only on a node without GPU slots: it runs as asked and fails
  // with the tiler's own words.
  const bool cpuOnly = slot.kind == SlotKind::Cpu && requestedDevice(rec.tilerConfig) != "cuda";
  if (!rec.tilerConfig.empty()) {
    const json cfg = json::parse(rec.tilerConfig, nullptr, false);
    if (cfg.is_array())
      for (const auto& item : cfg) {
        if (cpuOnly && item["key"] == "device") continue; // set below
        const json& v = item["value"];
        argv.push_back("--config");
        argv.push_back(item["key"].get<std::string>() + "=" +
                       (v.is_string()    ? v.get<std::string>()
                        : v.is_boolean() ? (v.get<bool>() ? "true" : "false")
                                         : v.dump()));
      }
  }
  // A CPU slot runs `auto` exports on the CPU (its tilers see no GPU either); last, so it wins.
  if (cpuOnly) {
    argv.push_back("--config");
    argv.push_back("device=cpu");
  }
  return argv;
}

/// Why a finished tiler's export is Invalid ("" when it is Complete).
std::string ExportWorker::failureOf(const ChildOutcome& o, const json& tilerJson, const std::string& id,
                                    const fs::path& outDir) const {
  std::error_code ec;
  switch (o.kind) {
  case ChildOutcome::Kind::SpawnFailed:
    return o.message;
  case ChildOutcome::Kind::TimedOut:
    return "The export took longer than " + std::to_string(_config.exportTimeoutSeconds) + " s and was stopped.";
  case ChildOutcome::Kind::OutOfMemory:
    return "The export needed more than " + std::to_string(_config.exportMemoryBytes) + " bytes (peak seen " +
           std::to_string(o.peakRssBytes) + ") and was stopped.";
  case ChildOutcome::Kind::Signalled:
    return "The tiler was killed by signal " + std::to_string(o.code) + " (" + strsignal(o.code) + ").";
  case ChildOutcome::Kind::Exited: {
    if (o.code == 0)
      return fs::exists(outDir / "tileset.json", ec) ? "" : "The tiler finished without writing tileset.json.";
    std::string error;
    if (tilerJson.is_object() && tilerJson.contains("error") && tilerJson["error"].is_object())
      error = tilerJson["error"].value("message", "");
    if (error.empty()) error = lastLine(_dir.jobs() / id / "tiler.log");
    if (error.empty()) error = "The tiler failed with exit code " + std::to_string(o.code) + ".";
    return error;
  }
  default:
    return "";
  }
}

void ExportWorker::run(const Job& job) {
  const std::string& id = job.id;
  auto rec = _jobs.get(id);
  // One node: a NotStarted export of the queue; a fleet: the claim made it InProgress.
  if (!rec || rec->status != (_jobs.fleet() ? ExportStatus::InProgress : ExportStatus::NotStarted)) return;
  const int64_t startMs = JobStore::nowMs();
  const auto t0 = std::chrono::steady_clock::now();
  auto finish = [&](ExportStatus status, const std::string& error, const json& stats) {
    if (!_jobs.finish(job, status, error, stats.is_null() ? std::string() : stats.dump())) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    _metrics.exportFinished(toString(status), seconds);
    if (status == ExportStatus::Invalid)
      spdlog::warn("export {} Invalid after {:.1f} s: {}", id, seconds, error);
    else
      spdlog::info("export {} {} in {:.1f} s on {}", id, toString(status), seconds, job.owner);
  };
  std::error_code ec;
  if (!fs::exists(rec->imodelPath, ec))
    return finish(ExportStatus::Invalid, "The iModel file of this export is no longer available.", {});
  if (!_jobs.fleet()) (void)_jobs.updateStatus(id, ExportStatus::InProgress);
  spdlog::info("export {} InProgress on {} (attempt {}; {} changeset {} → {})", id, job.owner, job.attempt,
               rec->iModelId, rec->changesetIndex, rec->exportType);
  // The tiler writes into a folder of this run; the rename to exports/ID publishes it whole.
  const fs::path jobDir = _dir.jobs() / id, outDir = _dir.exports() / id, metricsFile = jobDir / "metrics.json";
  const fs::path runDir = jobDir / ("output." + uniqueSuffix());
  fs::create_directories(jobDir, ec);
  fs::remove(metricsFile, ec);
  // Output folders of earlier runs (a crash, a worker whose lease was taken) are not wanted.
  for (fs::directory_iterator it(jobDir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind("output.", 0) == 0) fs::remove_all(it->path(), ec);
  ec.clear();
  auto cleanUp = [&] { fs::remove_all(runDir, ec); };
  ChildLimits limits;
  limits.timeout = std::chrono::seconds(_config.exportTimeoutSeconds);
  limits.memoryBytes = _config.exportMemoryBytes;
  limits.environment.push_back("CUDA_VISIBLE_DEVICES=" + (job.slot.gpu >= 0 ? std::to_string(job.slot.gpu) : ""));
  // One node: one tiler per export at a time, across restarts (an orphan of a killed service is
  // ended first). A fleet has the lease instead: the lock's pid may belong to another host.
  std::optional<PidLock> jobLock;
  if (!_jobs.fleet()) {
    auto locked = lockJob(jobDir / "tiler.lock", std::chrono::seconds(10));
    if (!locked) {
      spdlog::error("export {}: {}", id, locked.status().message());
      _jobs.requeue(job);
      return;
    }
    jobLock.emplace(std::move(*locked));
    limits.inheritFd = jobLock->fd();
  }
  const ChildOutcome o = runChild(
      tilerArguments(*rec, job.slot, runDir), jobDir / ("tiler." + job.slot.name() + ".log"), limits,
      [&](int pid) {
        if (jobLock) jobLock->setPid(pid);
        _jobs.setPid(id, pid);
      },
      [&] { return _jobs.shouldStop(job); });
  const fs::path log = jobDir / ("tiler." + job.slot.name() + ".log");
  fs::rename(log, jobDir / "tiler.log", ec);
  if (_jobs.cancelled(id)) return cleanUp(); // DELETEd while it ran: the loop removes what is left
  if (_jobs.lost(id)) {
    cleanUp();
    spdlog::info("export {}: run on {} abandoned (another worker has it)", id, job.owner);
    return;
  }
  if (o.kind == ChildOutcome::Kind::Stopped) {
    // Shutting down: the next start (or another worker) runs it again.
    cleanUp();
    _jobs.requeue(job);
    spdlog::info("export {} re-queued", id);
    return;
  }
  json tilerJson;
  {
    std::ifstream in(metricsFile);
    if (in) tilerJson = json::parse(in, nullptr, false);
    if (tilerJson.is_discarded()) tilerJson = json();
  }
  const int64_t durationMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  if (const std::string error = failureOf(o, tilerJson, id, runDir); !error.empty()) {
    cleanUp();
    return finish(ExportStatus::Invalid, error, {});
  }
  // Publish: whatever an earlier run left is replaced by this run's folder, renamed in one step.
  fs::remove_all(outDir, ec);
  fs::rename(runDir, outDir, ec);
  if (ec) {
    const std::string why = ec.message();
    cleanUp();
    return finish(ExportStatus::Invalid, "The export's files could not be published: " + why, {});
  }
  json m = tilerJson.is_object() && tilerJson.contains("metrics") ? tilerJson["metrics"] : json();
  if (m.is_object()) m["tilerPeakRssBytes"] = o.peakRssBytes;
  finish(ExportStatus::Complete, "", computeStats(*rec, startMs, durationMs, m, job));
}

json ExportWorker::computeStats(const ExportRecord& r, int64_t startMs, int64_t durationMs, const json& tilerMetrics,
                                const Job& job) const {
  json stats;
  std::error_code ec;
  stats["iModelSize"] = fs::exists(r.imodelPath, ec) ? fs::file_size(r.imodelPath, ec) : 0;
  uint64_t raw = 0, compressed = 0, files = 0;
  // One walk: every file's size and gzip size, summed per child of the export folder (by name).
  std::map<std::string, uint64_t> bytesByChild;
  const fs::path folder = _dir.exports() / r.id;
  for (fs::recursive_directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    uint64_t& child = bytesByChild[it->path().lexically_relative(folder).begin()->string()];
    if (!it->is_regular_file(ec)) continue;
    const uint64_t size = it->file_size(ec);
    raw += size;
    child += size;
    ++files;
    std::string content, packed;
    if (readFile(it->path(), content) && gzipString(content, packed, 1))
      compressed += std::min<uint64_t>(packed.size(), size);
    else
      compressed += size;
  }
  const std::vector<std::pair<std::string, uint64_t>> children(bytesByChild.begin(), bytesByChild.end());
  json structure = json::array();
  for (size_t i = 0; i < children.size() && i < 100; ++i)
    structure.push_back({{"name", children[i].first}, {"size", children[i].second}});
  stats["rawSize"] = raw;
  stats["compressedSize"] = compressed;
  stats["startTime"] = formatUtc(startMs);
  stats["duration"] = durationMs;
  struct statvfs vfs {};
  if (statvfs(folder.c_str(), &vfs) == 0) {
    stats["diskSize"] = uint64_t(vfs.f_blocks) * vfs.f_frsize;
    stats["freeDiskSpace"] = uint64_t(vfs.f_bavail) * vfs.f_frsize;
  }
  stats["exportDirSize"] = raw;
  stats["exportDirStructure"] = {
      {"files", files}, {"children", structure}, {"omitted", children.size() > 100 ? children.size() - 100 : 0}};
  if (!tilerMetrics.is_null()) stats["metrics"] = tilerMetrics;
  stats["worker"] = {{"node", _config.nodeName}, {"slot", job.slot.name()}, {"attempt", job.attempt}};
  return stats;
}

} // namespace mx::service
