#pragma once
// Shared by the CUDA backend's translation units: error conversion (every CUDA call is checked
// and becomes a Status, never an abort), the device memory arena, pinned staging, the lane a call
// runs on, and the stage launchers. CUB-shaped: temp storage is queried, then carved from the
// arena; all work runs on the lane's streams; the host waits only where a launcher reads results
// back (download(), the few scalars documented at their read-back) or reuses a staging slot.
#include <mx/core/IComputeBackend.h>
#include <mx/core/Status.h>
#include <mx/cuda/ChunkPlan.h>

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace mx::cuda::detail {

inline core::Status check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return core::Status::ok();
  const core::ErrorCode code =
      e == cudaErrorMemoryAllocation ? core::ErrorCode::OutOfMemory : core::ErrorCode::DeviceError;
  return {code, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")"};
}

#define MX_CUDA_TRY(expr) MX_RETURN_IF_ERROR(::mx::cuda::detail::check((expr), #expr))

inline cudaError_t deviceAlloc(void** p, size_t bytes) { return cudaMalloc(p, bytes); }
inline cudaError_t deviceFree(void* p) { return cudaFree(p); }
inline cudaError_t pinnedAlloc(void** p, size_t bytes) { return cudaHostAlloc(p, bytes, cudaHostAllocDefault); }
inline cudaError_t pinnedFree(void* p) { return cudaFreeHost(p); }

/// One allocation that only grows: reserve() replaces it when it is too small.
template <cudaError_t (*Alloc)(void**, size_t), cudaError_t (*Release)(void*)> class GrowingBlock {
public:
  GrowingBlock() = default;
  GrowingBlock(const GrowingBlock&) = delete;
  GrowingBlock& operator=(const GrowingBlock&) = delete;
  ~GrowingBlock() {
    if (_data) Release(_data);
  }

  core::Status reserve(size_t bytes) {
    if (bytes <= _capacity) return core::Status::ok();
    if (_data) {
      Release(_data);
      _data = nullptr;
      _capacity = 0;
    }
    MX_RETURN_IF_ERROR(check(Alloc(&_data, bytes), ("allocating " + std::to_string(bytes) + " bytes").c_str()));
    _capacity = bytes;
    if (bytes > _peak) _peak = bytes;
    return core::Status::ok();
  }
  [[nodiscard]] char* data() const { return static_cast<char*>(_data); }
  [[nodiscard]] size_t peak() const { return _peak; }

private:
  void* _data = nullptr;
  size_t _capacity = 0;
  size_t _peak = 0;
};

/// The device memory of a lane, reused by every call: a call lays out what it needs (Layout),
/// reserves it and carves its buffers from it.
using DeviceArena = GrowingBlock<deviceAlloc, deviceFree>;
/// Page-locked host memory, so copies from and to it are true asynchronous DMA.
using PinnedBuffer = GrowingBlock<pinnedAlloc, pinnedFree>;

/// Offsets of a call's buffers inside the arena (256-byte aligned).
class Layout {
public:
  template <typename T> size_t add(size_t count) {
    const size_t at = (_size + 255) / 256 * 256;
    _size = at + count * sizeof(T);
    return at;
  }
  [[nodiscard]] size_t size() const { return _size + 256; }

private:
  size_t _size = 0;
};

template <typename T> T* at(DeviceArena& arena, size_t offset) { return reinterpret_cast<T*>(arena.data() + offset); }

/// Two pinned slots: the host fills (or empties) one while the DMA engine works on the other.
struct StagingRing {
  PinnedBuffer slot[2];
  cudaEvent_t done[2] = {nullptr, nullptr}; ///< Recorded after the slot's last copy.
  bool busy[2] = {false, false};            ///< A copy may still use the slot.
  char* hostDst[2] = {nullptr, nullptr};    ///< Downloads: where the slot's bytes go.
  size_t pending[2] = {0, 0};
  int next = 0;
};

/// What one call runs on: two streams (chunks alternate between them so one chunk's copies overlap
/// the other's kernels), the arena, pinned staging for uploads and downloads, and timers.
struct Lane {
  cudaStream_t stream[2] = {nullptr, nullptr};
  cudaEvent_t start = nullptr, stop = nullptr, joined = nullptr, ready = nullptr;
  DeviceArena arena;
  StagingRing up, down;
  size_t stagingBytes = 0;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> copyTimers; ///< Reused; the first copyTimersUsed are this call's.
  size_t copyTimersUsed = 0;
  core::DeviceMemoryStats stats;

  Lane() = default;
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;
  ~Lane();
  core::Status init(size_t staging);
  /// Before a call: no copy of an earlier (possibly failed) call still uses the staging slots.
  core::Status quiesce();
};

/// Enqueues the copy of `bytes` host bytes to `device` on `stream` through the lane's pinned
/// upload slots: the host stages piece k + 1 (on oneTBB threads for large pieces) while piece k is
/// in flight. Returns once every piece is staged and enqueued; waits only for a slot to free up.
core::Status upload(Lane& lane, cudaStream_t stream, void* device, const void* host, size_t bytes);

/// Copies `bytes` device bytes (after the work enqueued on `stream`) to `host` through the pinned
/// download slots, moving piece k out of pinned memory while piece k + 1 is in flight. A read-back:
/// returns when every byte is in `host`.
core::Status download(Lane& lane, cudaStream_t stream, void* host, const void* device, size_t bytes);

/// Runs `fn` so that, while it waits for its own oneTBB work (parallel staging copies, the host
/// merge), this thread takes no other task: a stolen tile task could wait for a lane that only
/// this thread can release.
core::Status isolated(const std::function<core::Status()>& fn);

/// Grid for a grid-stride loop over n items.
inline unsigned gridFor(size_t n) {
  const size_t blocks = (n + 255) / 256;
  return unsigned(blocks == 0 ? 1 : (blocks > 65535 * 16 ? 65535 * 16 : blocks));
}

core::Status partitionDevice(Lane& lane, const ChunkPlan& plan, const core::PartitionInput& in,
                             core::PartitionOutput& out);
core::Status clusterDevice(Lane& lane, const core::ClusterInput& in, core::ClusterOutput& out);
core::Status quantizeDevice(Lane& lane, const ChunkPlan& plan, const core::QuantizeInput& in,
                            core::QuantizeOutput& out);

} // namespace mx::cuda::detail
