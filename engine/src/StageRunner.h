#pragma once
// StageRunner: dispatch of one backend stage and its CPU fallback.
//   in        a stage (partition, cluster, quantize), its size, and a call on IComputeBackend
//   does      asks BackendSet which backend runs the stage (CUDA when present and it supports the
//             stage, else the CPU, with the reason); when the GPU fails with DeviceError,
//             DeviceUnavailable or OutOfMemory the call is re-run on the CPU
//   records   per stage, every backend used and why (ExportMetrics' backend and reason) and the
//             GPU's kernel and copy time while the stage ran
// Thread-safe: the tiles of one level call run() in parallel.
#include <mx/core/ExportMetrics.h>
#include <mx/core/IComputeBackend.h>
#include <mx/engine/BackendRegistry.h>
#include <mx/engine/Pipeline.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace mx::engine {

class StageRunner {
public:
  explicit StageRunner(const BackendSet& set) : _set(set) {}

  template <typename Fn> core::Status run(core::Stage stage, const core::MeshStats& stats, Fn&& fn) {
    BackendSet::Choice choice = _set.choose(stage, stats);
    core::Status s = fn(*choice.backend);
    if (!s && choice.backend != &_set.cpu() &&
        (s.code() == core::ErrorCode::DeviceError || s.code() == core::ErrorCode::DeviceUnavailable ||
         s.code() == core::ErrorCode::OutOfMemory)) {
      choice = {&_set.cpu(),
                std::string(choice.backend->name()) + " failed (" + s.message() + "), fell back to the CPU"};
      s = fn(_set.cpu());
    }
    record(stage, choice);
    return s;
  }

  /// Writes the stage's backends and reasons so far into `m`.
  void describe(core::Stage stage, core::StageMetrics& m) const;

  [[nodiscard]] const BackendSet& set() const { return _set; }

  /// Device counters so far (zeros without a GPU); a stage records what changed while it ran.
  [[nodiscard]] core::DeviceMemoryStats device() const {
    return _set.gpu() ? _set.gpu()->memoryStats() : core::DeviceMemoryStats{};
  }
  void recordDevice(core::StageMetrics& m, const core::DeviceMemoryStats& before) const;

private:
  void record(core::Stage stage, const BackendSet::Choice& choice);
  struct Record {
    std::set<std::string> backends, reasons;
  };
  const BackendSet& _set;
  mutable std::mutex _mutex;
  std::map<core::Stage, Record> _records;
};

/// The export's device budget from its options (deviceMemoryMB, deviceShare).
BackendOptions backendOptions(const ExportOptions& options);

/// Cancelled when the export's CancelToken says so (checked between stages and LOD levels).
core::Status checkCancel(const ExportOptions& o);

/// Reports a stage's progress to the caller's ProgressFn, if any.
void progress(const ExportOptions& o, std::string_view stage, double f);

} // namespace mx::engine
