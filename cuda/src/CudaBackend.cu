// CUDA backend: device discovery and the stage entry points. The stage kernels (Morton codes +
// cub::DeviceRadixSort partition, clustering, quantization) are the CUDA-backend issue's work;
// until they land, supports() answers false for every stage, so the engine runs each stage on the
// CPU and records "cuda: stage not implemented" as the reason in ExportMetrics.
#include <mx/cuda/CudaBackend.h>

#include <cuda_runtime.h>

namespace mx::cuda {

const DeviceProbe& probeDevices() {
  static const DeviceProbe probe = [] {
    DeviceProbe p;
    cudaDriverGetVersion(&p.driverVersion);
    cudaRuntimeGetVersion(&p.runtimeVersion);
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      p.errorCode = int(err);
      p.errorText = cudaGetErrorString(err);
      cudaGetLastError(); // clear the non-sticky part; the backend stays unavailable anyway
      return p;
    }
    p.deviceCount = count;
    if (count > 0) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
        p.deviceName = prop.name;
        p.totalMemory = prop.totalGlobalMem;
      }
    }
    return p;
  }();
  return probe;
}

CudaBackend::CudaBackend() = default;
CudaBackend::~CudaBackend() = default;

bool CudaBackend::isAvailable() const { return probeDevices().deviceCount > 0; }

std::string CudaBackend::unavailableReason() const {
  const DeviceProbe& p = probeDevices();
  if (p.errorCode != 0) return "no CUDA device: " + p.errorText + " (cudaError " + std::to_string(p.errorCode) + ")";
  if (p.deviceCount == 0) return "no CUDA device: the runtime reports 0 devices";
  return {};
}

std::string CudaBackend::deviceName() const { return probeDevices().deviceName; }

bool CudaBackend::supports(core::Stage, const core::MeshStats&) const { return false; }

namespace {
core::Status notImplemented(core::Stage stage) {
  return {core::ErrorCode::DeviceUnavailable,
          std::string("cuda: stage ") + std::string(core::toString(stage)) + " not implemented"};
}
} // namespace

core::Status CudaBackend::partition(const core::PartitionInput&, core::PartitionOutput&) {
  return notImplemented(core::Stage::Partition);
}
core::Status CudaBackend::clusterVertices(const core::ClusterInput&, core::ClusterOutput&) {
  return notImplemented(core::Stage::Cluster);
}
core::Status CudaBackend::quantize(const core::QuantizeInput&, core::QuantizeOutput&) {
  return notImplemented(core::Stage::Quantize);
}

core::DeviceMemoryStats CudaBackend::memoryStats() const { return _stats; }

} // namespace mx::cuda
