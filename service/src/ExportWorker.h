#pragma once
// The workers: each takes the next export from the JobService queue, runs `meshexport tile` as a
// child process (ChildProcess.h: time and memory limits, a job lock across restarts) and records
// the outcome: Complete with stats (sizes, gzip sizes, disk, the tiler's ExportMetrics), Invalid
// with a message fit for the client, or NotStarted again when the service stops under it.
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

  /// Runs exports until the service stops.
  void loop();

  /// Runs one export (NotStarted → InProgress → Complete | Invalid).
  void run(const std::string& id);

private:
  std::vector<std::string> tilerArguments(const ExportRecord& rec) const;
  std::string failureOf(const ChildOutcome& o, const nlohmann::json& tilerJson, const std::string& id) const;
  nlohmann::json computeStats(const ExportRecord& r, int64_t startMs, int64_t durationMs,
                              const nlohmann::json& tilerMetrics) const;

  const ServiceConfig& _config;
  DataDir _dir;
  JobService& _jobs;
  ServiceMetrics& _metrics;
};

} // namespace mx::service
