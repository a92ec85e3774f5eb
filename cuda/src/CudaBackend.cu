// CUDA backend: device discovery, the memory budget and how calls are cut to fit it, the lanes
// concurrent calls run on, per-stage dispatch to the launchers in Partition.cu /
// VertexClustering.cu / Quantize.cu, and the timing and counters behind ExportMetrics.
#include "CudaCommon.cuh"

#include <mx/cuda/CudaBackend.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
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
  CudaOptions options;
  std::mutex mutex;
  std::condition_variable laneFreed;
  bool initialised = false;
  core::Status initStatus;
  std::vector<std::unique_ptr<detail::Lane>> lanes;
  std::vector<detail::Lane*> idle;
  std::atomic<bool> healthy{true};
  std::string unhealthyReason;
  uint64_t budgetBytes = 0, laneBudget = 0;
  core::DeviceMemoryStats totals;

  explicit Impl(CudaOptions o) : options(o) {}

  // Under `mutex`. The first call creates the lanes; a failure is remembered.
  core::Status init() {
    if (initialised) return initStatus;
    initialised = true;
    initStatus = [&]() -> core::Status {
      MX_CUDA_TRY(cudaSetDevice(0));
      size_t freeBytes = 0, totalBytes = 0;
      MX_CUDA_TRY(cudaMemGetInfo(&freeBytes, &totalBytes));
      budgetBytes = uint64_t(double(freeBytes) * 0.8) / std::max(1u, options.share);
      if (options.deviceMemoryBytes) budgetBytes = std::min<uint64_t>(options.deviceMemoryBytes, freeBytes);
      const int n = options.lanes > 0 ? options.lanes : 4;
      laneBudget = budgetBytes / uint64_t(n);
      for (int i = 0; i < n; ++i) {
        auto lane = std::make_unique<detail::Lane>();
        MX_RETURN_IF_ERROR(lane->init(options.stagingBytes));
        idle.push_back(lane.get());
        lanes.push_back(std::move(lane));
      }
      return core::Status::ok();
    }();
    if (!initStatus) disable(initStatus.message());
    return initStatus;
  }

  // Under `mutex`.
  void disable(const std::string& why) {
    healthy = false;
    unhealthyReason = why;
    cudaGetLastError();
  }

  /// One call on a free lane (waiting for one when all are busy). A DeviceError (sticky for the
  /// context: an illegal address, a launch failure) disables the backend for the process; the
  /// engine re-runs the stage on the CPU.
  template <typename Fn> core::Status run(Fn&& fn) {
    detail::Lane* lane = nullptr;
    {
      std::unique_lock lock(mutex);
      if (!healthy)
        return {core::ErrorCode::DeviceUnavailable, "cuda backend disabled after an earlier error: " + unhealthyReason};
      MX_RETURN_IF_ERROR(init());
      laneFreed.wait(lock, [&] { return !idle.empty(); });
      lane = idle.back();
      idle.pop_back();
    }
    const size_t peakBefore = lane->arena.peak();
    core::Status s = detail::isolated([&] { return call(*lane, fn); });
    std::lock_guard lock(mutex);
    totals.peakBytes += lane->arena.peak() - peakBefore; // every lane's arena only grows
    totals.hostToDeviceBytes += lane->stats.hostToDeviceBytes;
    totals.deviceToHostBytes += lane->stats.deviceToHostBytes;
    totals.kernelMs += lane->stats.kernelMs;
    totals.copyMs += lane->stats.copyMs;
    idle.push_back(lane);
    laneFreed.notify_one();
    if (!s && s.code() == core::ErrorCode::DeviceError && healthy) disable(s.message());
    return s;
  }

  template <typename Fn> core::Status call(detail::Lane& lane, Fn& fn) {
    MX_RETURN_IF_ERROR(lane.quiesce());
    MX_CUDA_TRY(cudaEventRecord(lane.start, lane.stream[0]));
    MX_CUDA_TRY(cudaStreamWaitEvent(lane.stream[1], lane.start, 0));
    MX_RETURN_IF_ERROR(fn(lane));
    MX_CUDA_TRY(cudaEventRecord(lane.joined, lane.stream[1]));
    MX_CUDA_TRY(cudaStreamWaitEvent(lane.stream[0], lane.joined, 0));
    MX_CUDA_TRY(cudaEventRecord(lane.stop, lane.stream[0]));
    MX_CUDA_TRY(cudaEventSynchronize(lane.stop));
    float ms = 0;
    MX_CUDA_TRY(cudaEventElapsedTime(&ms, lane.start, lane.stop));
    lane.stats.kernelMs += ms;
    for (size_t i = 0; i < lane.copyTimersUsed; ++i) {
      MX_CUDA_TRY(cudaEventElapsedTime(&ms, lane.copyTimers[i].first, lane.copyTimers[i].second));
      lane.stats.copyMs += ms;
    }
    return core::Status::ok();
  }
};

CudaBackend::CudaBackend(CudaOptions options) : _impl(std::make_unique<Impl>(options)) {}
CudaBackend::~CudaBackend() = default;

bool CudaBackend::isAvailable() const { return probeDevices().deviceCount > 0 && _impl->healthy; }

std::string CudaBackend::unavailableReason() const {
  const DeviceProbe& p = probeDevices();
  if (p.errorCode != 0) return "no CUDA device: " + p.errorText + " (cudaError " + std::to_string(p.errorCode) + ")";
  if (p.deviceCount == 0) return "no CUDA device: the runtime reports 0 devices";
  std::lock_guard lock(_impl->mutex);
  if (!_impl->healthy) return "cuda disabled after an error: " + _impl->unhealthyReason;
  return {};
}

std::string CudaBackend::deviceName() const { return probeDevices().deviceName; }

bool CudaBackend::supports(core::Stage stage, const core::MeshStats& stats) const {
  if (!isAvailable()) return false;
  std::lock_guard lock(_impl->mutex);
  if (!_impl->init()) return false;
  const uint64_t budget = _impl->laneBudget;
  switch (stage) {
  case core::Stage::Partition:
    return planPartition(stats.vertices, stats.triangles, budget, _impl->options.chunkItems).chunk > 0;
  case core::Stage::Cluster:
    return clusterBytes(stats.vertices, stats.triangles) <= budget;
  case core::Stage::Quantize:
    return planQuantize(stats.vertices, budget, _impl->options.chunkItems).chunk > 0;
  }
  return false;
}

namespace {
core::Status tooLarge(const char* stage, uint64_t budget) {
  return {core::ErrorCode::OutOfMemory, std::string(stage) + " input does not fit the device budget of " +
                                            std::to_string(budget >> 20) + " MiB per lane"};
}
} // namespace

core::Status CudaBackend::partition(const core::PartitionInput& in, core::PartitionOutput& out) {
  return _impl->run([&](detail::Lane& lane) {
    const ChunkPlan plan =
        planPartition(in.positions.size() / 3, in.indices.size() / 3, _impl->laneBudget, _impl->options.chunkItems);
    if (plan.chunk == 0) return tooLarge("partition", _impl->laneBudget);
    return detail::partitionDevice(lane, plan, in, out);
  });
}

core::Status CudaBackend::clusterVertices(const core::ClusterInput& in, core::ClusterOutput& out) {
  return _impl->run([&](detail::Lane& lane) {
    if (clusterBytes(in.positions.size() / 3, in.indices.size() / 3) > _impl->laneBudget)
      return tooLarge("clustering", _impl->laneBudget);
    return detail::clusterDevice(lane, in, out);
  });
}

core::Status CudaBackend::quantize(const core::QuantizeInput& in, core::QuantizeOutput& out) {
  return _impl->run([&](detail::Lane& lane) {
    const ChunkPlan plan = planQuantize(in.positions.size() / 3, _impl->laneBudget, _impl->options.chunkItems);
    if (plan.chunk == 0) return tooLarge("quantization", _impl->laneBudget);
    return detail::quantizeDevice(lane, plan, in, out);
  });
}

core::DeviceMemoryStats CudaBackend::memoryStats() const {
  std::lock_guard lock(_impl->mutex);
  return _impl->totals;
}

} // namespace mx::cuda
