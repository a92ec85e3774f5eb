#pragma once
// Shared by the CUDA backend's translation units: error conversion (every CUDA call is checked
// and becomes a Status, never an abort), the device memory arena, the per-backend context, and
// the stage launchers. CUB-shaped: temp storage is queried, then carved from the arena; all work
// runs on the context's stream; nothing allocates or synchronises behind the caller's back except
// where a launcher documents a host read-back.
#include <mx/core/IComputeBackend.h>
#include <mx/core/Status.h>

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace mx::cuda::detail {

inline core::Status check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return core::Status::ok();
  const core::ErrorCode code = e == cudaErrorMemoryAllocation ? core::ErrorCode::OutOfMemory : core::ErrorCode::DeviceError;
  return {code, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")"};
}

#define MX_CUDA_TRY(expr) MX_RETURN_IF_ERROR(::mx::cuda::detail::check((expr), #expr))

/// One device allocation reused by every call: a call lays out what it needs (Layout), reserves
/// it (growing the block only when it is too small) and carves its buffers from it.
class DeviceArena {
public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena() { if (_base) cudaFree(_base); }

  core::Status reserve(size_t bytes) {
    if (bytes <= _capacity) return core::Status::ok();
    if (_base) { cudaFree(_base); _base = nullptr; _capacity = 0; }
    MX_CUDA_TRY(cudaMalloc(&_base, bytes));
    _capacity = bytes;
    if (bytes > _peak) _peak = bytes;
    return core::Status::ok();
  }
  [[nodiscard]] char* base() const { return static_cast<char*>(_base); }
  [[nodiscard]] size_t peak() const { return _peak; }

private:
  void* _base = nullptr;
  size_t _capacity = 0;
  size_t _peak = 0;
};

/// Offsets of a call's buffers inside the arena (256-byte aligned).
class Layout {
public:
  template <typename T>
  size_t add(size_t count) {
    const size_t at = (_size + 255) / 256 * 256;
    _size = at + count * sizeof(T);
    return at;
  }
  [[nodiscard]] size_t size() const { return _size + 256; }

private:
  size_t _size = 0;
};

template <typename T>
T* at(DeviceArena& arena, size_t offset) {
  return reinterpret_cast<T*>(arena.base() + offset);
}

struct Context {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  DeviceArena arena;
  core::DeviceMemoryStats stats;
};

/// Grid for a grid-stride loop over n items.
inline unsigned gridFor(size_t n) {
  const size_t blocks = (n + 255) / 256;
  return unsigned(blocks == 0 ? 1 : (blocks > 65535 * 16 ? 65535 * 16 : blocks));
}

core::Status partitionDevice(Context& ctx, const core::PartitionInput& in, core::PartitionOutput& out);
core::Status clusterDevice(Context& ctx, const core::ClusterInput& in, core::ClusterOutput& out);
core::Status quantizeDevice(Context& ctx, const core::QuantizeInput& in, core::QuantizeOutput& out);

} // namespace mx::cuda::detail
