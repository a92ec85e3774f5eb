#pragma once
// Which compute backends exist (decided at build time) and which one runs a stage (decided at run
// time). The only translation unit outside cuda/ that knows the CUDA backend exists.
#include <mx/core/IComputeBackend.h>
#include <mx/cpu/CpuLevel.h>
#include <mx/engine/TilerConfig.h>

#include <memory>
#include <string>
#include <vector>

namespace mx::engine {

/// Names of the backends compiled into this binary: cpu-scalar, cpu-simd and, when built with
/// CUDA, cuda. The conformance suite is instantiated over this list.
std::vector<std::string> compiledBackends();

/// A new instance of a compiled backend by name, or nullptr.
std::unique_ptr<core::IComputeBackend> createBackend(std::string_view name);

/// The backends one export uses: the CPU at the requested level (always) and the GPU when the
/// device choice allows it and one is present.
class BackendSet {
public:
  /// Fails with DeviceUnavailable when `device` is Cuda and no CUDA device can be used.
  static core::Result<BackendSet> create(DeviceChoice device, cpu::CpuLevel cpuLevel);

  struct Choice {
    core::IComputeBackend* backend = nullptr;
    std::string reason;
  };
  /// The backend for `stage` on input of `stats`, and why.
  [[nodiscard]] Choice choose(core::Stage stage, const core::MeshStats& stats) const;
  [[nodiscard]] core::IComputeBackend& cpu() const { return *_cpu; }
  [[nodiscard]] core::IComputeBackend* gpu() const { return _gpu.get(); }

private:
  std::unique_ptr<core::IComputeBackend> _cpu;
  std::unique_ptr<core::IComputeBackend> _gpu;
  std::string _gpuReason;   ///< Why there is no GPU backend ("device=cpu requested", "no CUDA device: …").
};

} // namespace mx::engine
