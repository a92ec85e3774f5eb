// Copy bandwidth of this machine's device, the baseline the benchmarks' floors are figured from:
// device-to-device (what a memory-bound kernel can reach), pinned and pageable host↔device
// (PCIe / NVLink-C2C). Plain C++ against the CUDA runtime API; every call checked.
#include "CudaCommon.cuh"

#include <mx/cuda/CudaBackend.h>

#include <cstring>
#include <memory>
#include <vector>

namespace mx::cuda {

namespace {

/// Frees what it holds whatever path leaves the function.
struct Held {
  void* device[2] = {nullptr, nullptr};
  void* pinned = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t a = nullptr, b = nullptr;
  ~Held() {
    if (stream) cudaStreamSynchronize(stream);
    for (void* d : device)
      if (d) cudaFree(d);
    if (pinned) cudaFreeHost(pinned);
    if (a) cudaEventDestroy(a);
    if (b) cudaEventDestroy(b);
    if (stream) cudaStreamDestroy(stream);
  }
};

} // namespace

core::Result<Bandwidth> measureBandwidth(size_t bytes, int repeats) {
  if (probeDevices().deviceCount <= 0) return core::Status{core::ErrorCode::DeviceUnavailable, "no CUDA device"};
  if (bytes == 0 || repeats <= 0)
    return core::Status{core::ErrorCode::InvalidArgument, "bytes and repeats must be positive"};
  Held h;
  MX_CUDA_TRY(cudaSetDevice(0));
  MX_CUDA_TRY(cudaStreamCreateWithFlags(&h.stream, cudaStreamNonBlocking));
  MX_CUDA_TRY(cudaEventCreate(&h.a));
  MX_CUDA_TRY(cudaEventCreate(&h.b));
  MX_CUDA_TRY(cudaMalloc(&h.device[0], bytes));
  MX_CUDA_TRY(cudaMalloc(&h.device[1], bytes));
  MX_CUDA_TRY(cudaHostAlloc(&h.pinned, bytes, cudaHostAllocDefault));
  std::memset(h.pinned, 1, bytes);
  std::vector<char> pageable(bytes, 2);
  MX_CUDA_TRY(cudaMemsetAsync(h.device[0], 0, bytes, h.stream));
  // Seconds per copy of `bytes`, the best of `repeats` after one warm-up.
  auto time = [&](void* dst, const void* src, cudaMemcpyKind kind) -> core::Result<double> {
    double best = 1e30;
    for (int r = 0; r <= repeats; ++r) {
      MX_CUDA_TRY(cudaEventRecord(h.a, h.stream));
      MX_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, kind, h.stream));
      MX_CUDA_TRY(cudaEventRecord(h.b, h.stream));
      MX_CUDA_TRY(cudaEventSynchronize(h.b));
      float ms = 0;
      MX_CUDA_TRY(cudaEventElapsedTime(&ms, h.a, h.b));
      if (r > 0 && ms > 0) best = std::min(best, double(ms) / 1e3);
    }
    return best;
  };
  Bandwidth bw;
  MX_ASSIGN_OR_RETURN(double d2d, time(h.device[1], h.device[0], cudaMemcpyDeviceToDevice));
  MX_ASSIGN_OR_RETURN(double h2d, time(h.device[0], h.pinned, cudaMemcpyHostToDevice));
  MX_ASSIGN_OR_RETURN(double d2h, time(h.pinned, h.device[0], cudaMemcpyDeviceToHost));
  MX_ASSIGN_OR_RETURN(double pageableH2d, time(h.device[0], pageable.data(), cudaMemcpyHostToDevice));
  const double gb = double(bytes) / 1e9;
  bw.deviceGBps = 2 * gb / d2d; // a device copy reads and writes every byte
  bw.hostToDeviceGBps = gb / h2d;
  bw.deviceToHostGBps = gb / d2h;
  bw.pageableHostToDeviceGBps = gb / pageableH2d;
  return bw;
}

} // namespace mx::cuda
