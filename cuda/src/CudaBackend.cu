// CUDA backend: device discovery, the memory budget, per-stage dispatch to the launchers in
// Partition.cu / VertexClustering.cu / Quantize.cu, timing and counters for ExportMetrics.
// Calls are serialised (one stream, one arena); the engine may call from several threads.
#include "CudaCommon.cuh"

#include <mx/cuda/CudaBackend.h>

#include <memory>
#include <mutex>

namespace mx::cuda {

const DeviceProbe& probeDevices() {
  static const DeviceProbe probe = [] {
    DeviceProbe p;
    cudaDriverGetVersion(&p.driverVersion);
    cudaRuntimeGetVersion(&p.runtimeVersion);
    int count = 0; // cudaGetDeviceCount leaves it untouched on error
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      p.errorCode = int(err);
      p.errorText = cudaGetErrorString(err);
      cudaGetLastError();
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

struct CudaBackend::Impl {
  std::mutex mutex;
  detail::Context ctx;
  bool initialised = false;
  bool healthy = true;
  std::string unhealthyReason;
  uint64_t budgetBytes = 0;

  core::Status init() {
    if (initialised) return core::Status::ok();
    MX_CUDA_TRY(cudaSetDevice(0));
    MX_CUDA_TRY(cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
    MX_CUDA_TRY(cudaEventCreate(&ctx.start));
    MX_CUDA_TRY(cudaEventCreate(&ctx.stop));
    size_t freeBytes = 0, totalBytes = 0;
    MX_CUDA_TRY(cudaMemGetInfo(&freeBytes, &totalBytes));
    budgetBytes = uint64_t(double(freeBytes) * 0.8);
    initialised = true;
    return core::Status::ok();
  }

  ~Impl() {
    if (ctx.start) cudaEventDestroy(ctx.start);
    if (ctx.stop) cudaEventDestroy(ctx.stop);
    if (ctx.stream) cudaStreamDestroy(ctx.stream);
  }

  template <typename Fn>
  core::Status run(Fn&& fn) {
    std::lock_guard lock(mutex);
    if (!healthy) return {core::ErrorCode::DeviceUnavailable, "cuda backend disabled after an earlier error: " + unhealthyReason};
    core::Status s = init();
    if (s) {
      cudaEventRecord(ctx.start, ctx.stream);
      s = fn(ctx);
      if (s) {
        cudaEventRecord(ctx.stop, ctx.stream);
        if (cudaEventSynchronize(ctx.stop) == cudaSuccess) {
          float ms = 0;
          cudaEventElapsedTime(&ms, ctx.start, ctx.stop);
          ctx.stats.kernelMs += ms;
        }
      }
    }
    ctx.stats.peakBytes = ctx.arena.peak();
    if (!s && s.code() == core::ErrorCode::DeviceError) {
      // Errors such as an illegal address are sticky for the context: stop using the device
      // for the rest of the process; the engine re-runs the stage on the CPU.
      healthy = false;
      unhealthyReason = s.message();
      cudaGetLastError();
    }
    return s;
  }
};

CudaBackend::CudaBackend() : _impl(std::make_unique<Impl>()) {}
CudaBackend::~CudaBackend() = default;

bool CudaBackend::isAvailable() const { return probeDevices().deviceCount > 0 && _impl->healthy; }

std::string CudaBackend::unavailableReason() const {
  const DeviceProbe& p = probeDevices();
  if (p.errorCode != 0) return "no CUDA device: " + p.errorText + " (cudaError " + std::to_string(p.errorCode) + ")";
  if (p.deviceCount == 0) return "no CUDA device: the runtime reports 0 devices";
  if (!_impl->healthy) return "cuda disabled after an error: " + _impl->unhealthyReason;
  return {};
}

std::string CudaBackend::deviceName() const { return probeDevices().deviceName; }

/// Device bytes a stage needs for `stats` (upper bounds of the launchers' layouts + CUB temp).
static uint64_t estimateBytes(core::Stage stage, const core::MeshStats& s) {
  switch (stage) {
  case core::Stage::Partition: return 12 * s.vertices + 60 * s.triangles + (64ull << 20);
  case core::Stage::Cluster: return 180 * s.vertices + 40 * s.triangles + (64ull << 20);
  case core::Stage::Quantize: return 36 * s.vertices + (16ull << 20);
  }
  return ~0ull;
}

bool CudaBackend::supports(core::Stage stage, const core::MeshStats& stats) const {
  if (!isAvailable()) return false;
  std::lock_guard lock(_impl->mutex);
  if (!_impl->init()) return false;
  return estimateBytes(stage, stats) <= _impl->budgetBytes;
}

core::Status CudaBackend::partition(const core::PartitionInput& in, core::PartitionOutput& out) {
  return _impl->run([&](detail::Context& c) { return detail::partitionDevice(c, in, out); });
}
core::Status CudaBackend::clusterVertices(const core::ClusterInput& in, core::ClusterOutput& out) {
  return _impl->run([&](detail::Context& c) { return detail::clusterDevice(c, in, out); });
}
core::Status CudaBackend::quantize(const core::QuantizeInput& in, core::QuantizeOutput& out) {
  return _impl->run([&](detail::Context& c) { return detail::quantizeDevice(c, in, out); });
}

core::DeviceMemoryStats CudaBackend::memoryStats() const {
  std::lock_guard lock(_impl->mutex);
  return _impl->ctx.stats;
}

} // namespace mx::cuda
