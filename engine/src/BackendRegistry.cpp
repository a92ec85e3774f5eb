#include <mx/cpu/CpuBackend.h>
#include <mx/engine/BackendRegistry.h>
#if MESHEXPORT_HAS_CUDA
#include <mx/cuda/CudaBackend.h>
#endif

namespace mx::engine {

using core::ErrorCode;
using core::Status;

std::vector<std::string> compiledBackends() {
  std::vector<std::string> names = {"cpu-scalar", "cpu-simd"};
#if MESHEXPORT_HAS_CUDA
  names.push_back("cuda");
#endif
  return names;
}

std::unique_ptr<core::IComputeBackend> createBackend(std::string_view name,
                                                     [[maybe_unused]] const BackendOptions& options) {
  if (name == "cpu-scalar") return std::make_unique<cpu::CpuBackend>(cpu::CpuLevel::Scalar);
  if (name == "cpu-simd") return std::make_unique<cpu::CpuBackend>(cpu::CpuLevel::Simd);
#if MESHEXPORT_HAS_CUDA
  if (name == "cuda") {
    cuda::CudaOptions o;
    o.deviceMemoryBytes = options.deviceMemoryBytes;
    o.chunkItems = options.chunkItems;
    o.stagingBytes = options.stagingBytes;
    o.share = options.deviceShare;
    return std::make_unique<cuda::CudaBackend>(o);
  }
#endif
  return nullptr;
}

core::Result<DeviceBandwidth> measureDeviceBandwidth([[maybe_unused]] size_t bytes, [[maybe_unused]] int repeats) {
#if MESHEXPORT_HAS_CUDA
  MX_ASSIGN_OR_RETURN(cuda::Bandwidth b, cuda::measureBandwidth(bytes, repeats));
  return DeviceBandwidth{b.deviceGBps, b.hostToDeviceGBps, b.deviceToHostGBps, b.pageableHostToDeviceGBps};
#else
  return Status{ErrorCode::DeviceUnavailable, "this build has no CUDA backend"};
#endif
}

core::Result<BackendSet> BackendSet::create(DeviceChoice device, cpu::CpuLevel cpuLevel,
                                            const BackendOptions& options) {
  BackendSet set;
  set._cpu = std::make_unique<cpu::CpuBackend>(cpuLevel);
  if (device == DeviceChoice::Cpu) {
    set._gpuReason = "device=cpu requested";
    return set;
  }
  auto gpu = createBackend("cuda", options);
  if (!gpu) {
    set._gpuReason = "this build has no CUDA backend";
  } else if (!gpu->isAvailable()) {
    set._gpuReason = gpu->unavailableReason();
  } else {
    set._gpu = std::move(gpu);
  }
  if (device == DeviceChoice::Cuda && !set._gpu)
    return Status{ErrorCode::DeviceUnavailable, "device=cuda requested but " + set._gpuReason};
  return set;
}

BackendSet::Choice BackendSet::choose(core::Stage stage, const core::MeshStats& stats) const {
  if (!_gpu) return {_cpu.get(), _gpuReason};
  if (!_gpu->supports(stage, stats))
    return {_cpu.get(), "cuda does not support " + std::string(core::toString(stage)) +
                            " for this input (it exceeds the device memory budget)"};
  return {_gpu.get(), "CUDA device present"};
}

} // namespace mx::engine
