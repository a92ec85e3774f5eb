#pragma once
// Collecting ExportMetrics: stage timers, process CPU time and peak RSS, and the JSON form the
// CLI writes (--metrics) and the service embeds in stats.metrics.
#include <mx/core/ExportMetrics.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace mx::engine {

/// Times one stage and appends it to metrics.stages when finished (or destroyed).
class StageTimer {
public:
  StageTimer(core::ExportMetrics& metrics, std::string name);
  ~StageTimer();
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

  core::StageMetrics& stage() { return _stage; }
  void finish();

private:
  core::ExportMetrics& _metrics;
  core::StageMetrics _stage;
  std::chrono::steady_clock::time_point _start;
  bool _done = false;
};

/// Fills cpuUserMs, cpuSystemMs and peakRssBytes from getrusage(RUSAGE_SELF).
void recordProcessUsage(core::ExportMetrics& metrics);

nlohmann::json toJson(const core::ExportMetrics& metrics);

} // namespace mx::engine
