#pragma once
// The CUDA backend. This header is plain C++ (no CUDA types) so g++-compiled code can include it;
// it is only compiled and registered when the build has CUDA (MESHEXPORT_HAS_CUDA).
#include <mx/core/IComputeBackend.h>

#include <memory>
#include <string>

namespace mx::cuda {

/// What the CUDA runtime says about this machine. A missing driver is an error code, not zero
/// devices (cudaGetDeviceCount returns cudaErrorInsufficientDriver and leaves the count alone).
struct DeviceProbe {
  int deviceCount = 0;
  int errorCode = 0;          ///< cudaError_t of the probe, 0 on success.
  std::string errorText;      ///< "CUDA driver version is insufficient …" when errorCode != 0.
  std::string deviceName;     ///< Device 0, when present.
  uint64_t totalMemory = 0;   ///< Device 0 global memory, bytes.
  int driverVersion = 0;      ///< 0 when no driver is installed.
  int runtimeVersion = 0;
};

/// Asks the runtime once per process (the first answer is cached: CUDA errors are sticky).
/// The backend runs partition, clustering and quantization on device 0 (see cuda/src/*.cu); it is
/// used only when a device is present, each stage only when its estimated device memory fits 80 %
/// of the memory free at first use, and never again in the process after a device error.
const DeviceProbe& probeDevices();

class CudaBackend final : public core::IComputeBackend {
public:
  CudaBackend();
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
  struct Impl;                  // CUDA types stay out of this header
  std::unique_ptr<Impl> _impl;
};

} // namespace mx::cuda
