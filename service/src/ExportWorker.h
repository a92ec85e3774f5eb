#pragma once
// The workers: one per tiler slot (JobService.h: a GPU slot pins its tilers to its GPU through
// CUDA_VISIBLE_DEVICES, a CPU slot runs them with device=cpu and no GPU visible). Each takes the
// next export for its slot, runs `meshexport tile` as a child process (ChildProcess.h: time and
// memory limits; on one node a job lock across restarts, in a fleet the store's lease) writing into
// a folder of its own under DATA/jobs/ID, renamed to DATA/exports/ID once the tiler succeeded (a
// tile is never served from a half-written export, on a shared storage root neither), and records
// the outcome: Complete with stats (sizes, gzip sizes, disk, the tiler's ExportMetrics, the node
// and slot that ran it), Invalid with a message fit for the client, or NotStarted again when the
// service stops under it.
#include "ChildProcess.h"
#include "JobService.h"
#include "ServiceMetrics.h"

#include <mx/service/Config.h>
#include <mx/service/DataDir.h>

#include <nlohmann/json.hpp>

#include <string>

namespace mx::service {

class ExportWorker {
public:
  ExportWorker(const ServiceConfig& config, DataDir dir, JobService& jobs, ServiceMetrics& metrics)
      : _config(config), _dir(std::move(dir)), _jobs(jobs), _metrics(metrics) {}

  /// Runs exports for `slot` until the service stops.
  void loop(const Slot& slot);

  /// Runs one export (NotStarted → InProgress → Complete | Invalid).
  void run(const Job& job);

private:
  std::vector<std::string> tilerArguments(const ExportRecord& rec, const Slot& slot,
                                          const std::filesystem::path& outDir) const;
  std::string failureOf(const ChildOutcome& o, const nlohmann::json& tilerJson, const std::string& id,
                        const std::filesystem::path& outDir) const;
  nlohmann::json computeStats(const ExportRecord& r, int64_t startMs, int64_t durationMs,
                              const nlohmann::json& tilerMetrics, const Job& job) const;

  const ServiceConfig& _config;
  DataDir _dir;
  JobService& _jobs;
  ServiceMetrics& _metrics;
};

} // namespace mx::service
