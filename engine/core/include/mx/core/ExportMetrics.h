#pragma once
// What an export measured: per stage timings and backends, totals, and counts. Filled by the
// engine, serialised to JSON by the engine's metrics writer, embedded by the service in stats.
#include <cstdint>
#include <string>
#include <vector>

namespace mx::core {

struct StageMetrics {
  std::string name;    ///< read, partition, lod, quantize, write, validate.
  std::string backend; ///< cpu-simd, cpu-scalar, cuda, or "-" when not a compute stage.
  std::string reason;  ///< Why this backend ran ("requested", "no CUDA device: …").
  double wallMs = 0;
  uint64_t itemsIn = 0; ///< Triangles (or tiles for write/validate) in.
  uint64_t itemsOut = 0;
  uint64_t bytes = 0;  ///< Bytes produced (write) or processed.
  double kernelMs = 0; ///< Device time, when a device ran (its copies included).
  double copyMs = 0;   ///< Of which host↔device copy spans (they overlap kernels).
};

struct ExportMetrics {
  std::vector<StageMetrics> stages;
  double wallMs = 0;
  double cpuUserMs = 0;
  double cpuSystemMs = 0;
  uint64_t peakRssBytes = 0;
  std::string cpuLevel; ///< SIMD target chosen (e.g. AVX3) or "scalar".
  std::string gpuName;  ///< Empty when no GPU ran.
  uint64_t peakDeviceBytes = 0;
  uint64_t hostToDeviceBytes = 0;
  uint64_t deviceToHostBytes = 0;

  uint64_t features = 0;
  uint64_t trianglesIn = 0;
  uint64_t lineSegmentsIn = 0; ///< Linework drawn as lines.
  uint64_t pointsIn = 0;       ///< And as points.
  uint64_t verticesIn = 0;
  uint64_t inputBytes = 0; ///< Scene mesh bytes in host memory.
  std::vector<uint64_t> trianglesPerLevel;
  std::vector<uint64_t> tilesPerLevel;
  uint64_t tiles = 0;
  uint64_t outputBytes = 0;
  std::vector<std::string> warnings;
};

} // namespace mx::core
