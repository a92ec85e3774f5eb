#pragma once
// The CUDA backend. This header is plain C++ (no CUDA types) so g++-compiled code can include it;
// it is only compiled and registered when the build has CUDA (MESHEXPORT_HAS_CUDA).
#include <mx/core/IComputeBackend.h>
#include <mx/core/Result.h>

#include <memory>
#include <string>

namespace mx::cuda {

/// What the CUDA runtime says about this machine. A missing driver is an error code, not zero
/// devices (cudaGetDeviceCount returns cudaErrorInsufficientDriver and leaves the count alone).
struct DeviceProbe {
  int deviceCount = 0;
  int errorCode = 0;        ///< cudaError_t of the probe, 0 on success.
  std::string errorText;    ///< "CUDA driver version is insufficient …" when errorCode != 0.
  std::string deviceName;   ///< Device 0, when present.
  uint64_t totalMemory = 0; ///< Device 0 global memory, bytes.
  int driverVersion = 0;    ///< 0 when no driver is installed.
  int runtimeVersion = 0;
};

/// Asks the runtime once per process (the first answer is cached: CUDA errors are sticky).
const DeviceProbe& probeDevices();

/// Copy bandwidths of device 0, GB/s (10^9 bytes), the best of several copies.
struct Bandwidth {
  double deviceGBps = 0;               ///< Device-to-device copy, bytes read + written per second.
  double hostToDeviceGBps = 0;         ///< From pinned host memory.
  double deviceToHostGBps = 0;         ///< To pinned host memory.
  double pageableHostToDeviceGBps = 0; ///< From ordinary (pageable) host memory.
};

/// Measures them with copies of `bytes` (each direction `repeats` times after a warm-up); the
/// benchmarks' device-memory and PCIe floors are figured from it. DeviceUnavailable without a GPU.
core::Result<Bandwidth> measureBandwidth(size_t bytes, int repeats);

/// How much of the device one backend may use and how it cuts work to fit. Zeros pick defaults.
struct CudaOptions {
  /// Device memory all lanes together may hold; 0: 80 % of the memory free at first use, divided
  /// by `share`.
  uint64_t deviceMemoryBytes = 0;
  /// Processes or exports that use the device at once (the service's workers).
  unsigned share = 1;
  /// Most triangles (partition) or vertices (quantization) one device chunk holds; 0: as many as
  /// the lane's share of the budget allows. Tests set it small to run the chunked paths.
  size_t chunkItems = 0;
  /// Bytes of each pinned staging slot (two for uploads, two for downloads per lane); 0: 16 MiB.
  size_t stagingBytes = 0;
  /// Calls that may run at once, each on its own streams, arena and staging ("lanes"); 0: 4.
  int lanes = 0;
};

/// Partition, clustering and quantization on device 0 (cuda/src/*.cu). Calls from several threads
/// run concurrently on separate lanes (two streams, a device arena and pinned staging each), so one
/// call's copies overlap another's kernels; inside a call, host staging, copies and kernels of
/// neighbouring chunks overlap too. Partition and quantization cut inputs larger than a lane's
/// share of the budget into chunks (partition merges the chunk-sorted runs on the host);
/// clustering, whose inputs are tile-sized, runs only when it fits (supports() says no otherwise
/// and the engine uses the CPU). After a device error the backend is never used again in the
/// process (CUDA errors are sticky for the context).
class CudaBackend final : public core::IComputeBackend {
public:
  explicit CudaBackend(CudaOptions options = {});
  ~CudaBackend() override;

  [[nodiscard]] std::string_view name() const override { return "cuda"; }
  [[nodiscard]] bool isAvailable() const override;
  [[nodiscard]] std::string unavailableReason() const override;
  [[nodiscard]] std::string deviceName() const override;
  [[nodiscard]] bool supports(core::Stage stage, const core::MeshStats& stats) const override;

  core::Status partition(const core::PartitionInput& in, core::PartitionOutput& out) override;
  core::Status clusterVertices(const core::ClusterInput& in, core::ClusterOutput& out) override;
  core::Status quantize(const core::QuantizeInput& in, core::QuantizeOutput& out) override;

  [[nodiscard]] core::DeviceMemoryStats memoryStats() const override;

private:
  struct Impl; // CUDA types stay out of this header
  std::unique_ptr<Impl> _impl;
};

} // namespace mx::cuda
