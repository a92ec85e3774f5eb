#include <mx/engine/Metrics.h>

#include <sys/resource.h>

namespace mx::engine {

StageTimer::StageTimer(core::ExportMetrics& metrics, std::string name)
    : _metrics(metrics), _start(std::chrono::steady_clock::now()) {
  _stage.name = std::move(name);
  _stage.backend = "-";
}

StageTimer::~StageTimer() { finish(); }

void StageTimer::finish() {
  if (_done) return;
  _done = true;
  _stage.wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - _start).count();
  _metrics.stages.push_back(_stage);
}

void recordProcessUsage(core::ExportMetrics& metrics) {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return;
  metrics.cpuUserMs = double(ru.ru_utime.tv_sec) * 1e3 + double(ru.ru_utime.tv_usec) / 1e3;
  metrics.cpuSystemMs = double(ru.ru_stime.tv_sec) * 1e3 + double(ru.ru_stime.tv_usec) / 1e3;
  metrics.peakRssBytes = uint64_t(ru.ru_maxrss) * 1024; // Linux reports KiB
}

nlohmann::json toJson(const core::ExportMetrics& m) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& s : m.stages) {
    nlohmann::json j = {{"name", s.name},       {"backend", s.backend},   {"reason", s.reason}, {"wallMs", s.wallMs},
                        {"itemsIn", s.itemsIn}, {"itemsOut", s.itemsOut}, {"bytes", s.bytes}};
    if (s.kernelMs > 0) j["kernelMs"] = s.kernelMs;
    if (s.copyMs > 0) j["copyMs"] = s.copyMs;
    stages.push_back(std::move(j));
  }
  return {{"stages", stages},
          {"totals",
           {{"wallMs", m.wallMs},
            {"cpuUserMs", m.cpuUserMs},
            {"cpuSystemMs", m.cpuSystemMs},
            {"peakRssBytes", m.peakRssBytes},
            {"cpuLevel", m.cpuLevel},
            {"gpuName", m.gpuName},
            {"peakDeviceBytes", m.peakDeviceBytes},
            {"hostToDeviceBytes", m.hostToDeviceBytes},
            {"deviceToHostBytes", m.deviceToHostBytes}}},
          {"counts",
           {{"features", m.features},
            {"trianglesIn", m.trianglesIn},
            {"lineSegmentsIn", m.lineSegmentsIn},
            {"pointsIn", m.pointsIn},
            {"verticesIn", m.verticesIn},
            {"inputBytes", m.inputBytes},
            {"trianglesPerLevel", m.trianglesPerLevel},
            {"tilesPerLevel", m.tilesPerLevel},
            {"tiles", m.tiles},
            {"outputBytes", m.outputBytes}}},
          {"warnings", m.warnings}};
}

} // namespace mx::engine
