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

/// How a device backend may use its device (the CPU backends ignore it). Zeros pick defaults.
struct BackendOptions {
  uint64_t deviceMemoryBytes = 0; ///< tilerConfig deviceMemoryMB; 0: 80 % of the free memory / deviceShare.
  unsigned deviceShare = 1;       ///< Exports sharing the device (ExportOptions::deviceShare).
  size_t chunkItems = 0;          ///< Cap on items per device chunk (tests force chunking with it).
  size_t stagingBytes = 0;        ///< Pinned staging slot size; 0: the backend's default.
};

/// A new instance of a compiled backend by name, or nullptr.
std::unique_ptr<core::IComputeBackend> createBackend(std::string_view name, const BackendOptions& options = {});

/// Copy bandwidths of the CUDA device, GB/s: device-to-device (read + written), pinned and
/// pageable host↔device. DeviceUnavailable without a GPU or a CUDA build.
struct DeviceBandwidth {
  double deviceGBps = 0, hostToDeviceGBps = 0, deviceToHostGBps = 0, pageableHostToDeviceGBps = 0;
};
core::Result<DeviceBandwidth> measureDeviceBandwidth(size_t bytes = size_t(256) << 20, int repeats = 5);

/// The backends one export uses: the CPU at the requested level (always) and the GPU when the
/// device choice allows it and one is present.
class BackendSet {
public:
  /// Fails with DeviceUnavailable when `device` is Cuda and no CUDA device can be used.
  static core::Result<BackendSet> create(DeviceChoice device, cpu::CpuLevel cpuLevel,
                                         const BackendOptions& options = {});

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
  std::string _gpuReason; ///< Why there is no GPU backend ("device=cpu requested", "no CUDA device: …").
};

} // namespace mx::engine
