// Pinned staging for the CUDA backend's copies (plain C++ against the CUDA runtime API): a lane's
// streams, events and rings, and upload()/download(), which move host data through two pinned
// slots so that the host copy of one piece overlaps the DMA of the other.
#include "CudaCommon.cuh"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstring>

namespace mx::cuda::detail {

namespace {

constexpr size_t kDefaultStaging = size_t(16) << 20;

/// memcpy on oneTBB threads for large pieces: one thread does not reach the PCIe bandwidth.
void hostCopy(char* dst, const char* src, size_t bytes) {
  constexpr size_t kBlock = size_t(1) << 20;
  if (bytes < 2 * kBlock) {
    std::memcpy(dst, src, bytes);
    return;
  }
  tbb::parallel_for(size_t(0), (bytes + kBlock - 1) / kBlock, [&](size_t b) {
    const size_t at = b * kBlock;
    std::memcpy(dst + at, src + at, std::min(kBlock, bytes - at));
  });
}

/// A pair of events around this call's next copy (created the first time a lane needs so many).
core::Status copyTimer(Lane& lane, std::pair<cudaEvent_t, cudaEvent_t>*& timer) {
  if (lane.copyTimersUsed == lane.copyTimers.size()) {
    std::pair<cudaEvent_t, cudaEvent_t> t{nullptr, nullptr};
    MX_CUDA_TRY(cudaEventCreate(&t.first));
    const cudaError_t e = cudaEventCreate(&t.second);
    if (e != cudaSuccess) cudaEventDestroy(t.first);
    MX_CUDA_TRY(e);
    lane.copyTimers.push_back(t);
  }
  timer = &lane.copyTimers[lane.copyTimersUsed++];
  return core::Status::ok();
}

core::Status reserveRing(StagingRing& ring, size_t bytes) {
  for (int j = 0; j < 2; ++j) {
    MX_RETURN_IF_ERROR(ring.slot[j].reserve(bytes));
    if (!ring.done[j]) MX_CUDA_TRY(cudaEventCreateWithFlags(&ring.done[j], cudaEventDisableTiming));
  }
  return core::Status::ok();
}

/// Waits for slot j's last copy; a download slot then hands its bytes to their destination.
core::Status settle(StagingRing& ring, int j) {
  if (!ring.busy[j]) return core::Status::ok();
  MX_CUDA_TRY(cudaEventSynchronize(ring.done[j]));
  ring.busy[j] = false;
  if (ring.hostDst[j]) {
    hostCopy(ring.hostDst[j], ring.slot[j].data(), ring.pending[j]);
    ring.hostDst[j] = nullptr;
    ring.pending[j] = 0;
  }
  return core::Status::ok();
}

void destroyRing(StagingRing& ring) {
  for (int j = 0; j < 2; ++j) {
    if (ring.busy[j]) cudaEventSynchronize(ring.done[j]);
    if (ring.done[j]) cudaEventDestroy(ring.done[j]);
  }
}

} // namespace

core::Status isolated(const std::function<core::Status()>& fn) {
  core::Status s;
  tbb::this_task_arena::isolate([&] { s = fn(); });
  return s;
}

core::Status Lane::init(size_t staging) {
  stagingBytes = staging ? staging : kDefaultStaging;
  for (auto& s : stream) MX_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  MX_CUDA_TRY(cudaEventCreate(&start));
  MX_CUDA_TRY(cudaEventCreate(&stop));
  MX_CUDA_TRY(cudaEventCreateWithFlags(&joined, cudaEventDisableTiming));
  MX_CUDA_TRY(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  return core::Status::ok();
}

Lane::~Lane() {
  destroyRing(up);
  destroyRing(down);
  for (auto& t : copyTimers) {
    cudaEventDestroy(t.first);
    cudaEventDestroy(t.second);
  }
  for (cudaEvent_t e : {start, stop, joined, ready})
    if (e) cudaEventDestroy(e);
  for (auto& s : stream)
    if (s) cudaStreamDestroy(s);
}

core::Status Lane::quiesce() {
  stats = {};
  copyTimersUsed = 0;
  for (cudaStream_t s : stream) MX_CUDA_TRY(cudaStreamSynchronize(s)); // idle unless a call failed
  for (StagingRing* ring : {&up, &down})
    for (int j = 0; j < 2; ++j) {
      if (ring->busy[j]) MX_CUDA_TRY(cudaEventSynchronize(ring->done[j]));
      ring->busy[j] = false;
      ring->hostDst[j] = nullptr; // a download that failed half-way: its destination may be gone
      ring->pending[j] = 0;
    }
  return core::Status::ok();
}

namespace {

/// Both directions: a timer around the copies, pieces of at most one slot alternating between the
/// ring's two slots, each slot waited for (a download slot emptied) before `piece(j, off, n)`
/// enqueues the copy of bytes [off, off + n) through slot j.
template <typename Piece>
core::Status staged(Lane& lane, StagingRing& ring, cudaStream_t stream, size_t bytes, Piece&& piece) {
  MX_RETURN_IF_ERROR(reserveRing(ring, lane.stagingBytes));
  std::pair<cudaEvent_t, cudaEvent_t>* timer = nullptr;
  MX_RETURN_IF_ERROR(copyTimer(lane, timer));
  MX_CUDA_TRY(cudaEventRecord(timer->first, stream));
  for (size_t off = 0; off < bytes; off += lane.stagingBytes) {
    const size_t n = std::min(lane.stagingBytes, bytes - off);
    const int j = ring.next;
    ring.next ^= 1;
    MX_RETURN_IF_ERROR(settle(ring, j));
    MX_RETURN_IF_ERROR(piece(j, off, n));
    MX_CUDA_TRY(cudaEventRecord(ring.done[j], stream));
    ring.busy[j] = true;
  }
  MX_CUDA_TRY(cudaEventRecord(timer->second, stream));
  return core::Status::ok();
}

} // namespace

core::Status upload(Lane& lane, cudaStream_t stream, void* device, const void* host, size_t bytes) {
  if (bytes == 0) return core::Status::ok();
  StagingRing& ring = lane.up;
  MX_RETURN_IF_ERROR(staged(lane, ring, stream, bytes, [&](int j, size_t off, size_t n) {
    hostCopy(ring.slot[j].data(), static_cast<const char*>(host) + off, n);
    return check(
        cudaMemcpyAsync(static_cast<char*>(device) + off, ring.slot[j].data(), n, cudaMemcpyHostToDevice, stream),
        "cudaMemcpyAsync");
  }));
  lane.stats.hostToDeviceBytes += bytes;
  return core::Status::ok();
}

core::Status download(Lane& lane, cudaStream_t stream, void* host, const void* device, size_t bytes) {
  if (bytes == 0) return core::Status::ok();
  StagingRing& ring = lane.down;
  MX_RETURN_IF_ERROR(staged(lane, ring, stream, bytes, [&](int j, size_t off, size_t n) {
    ring.hostDst[j] = static_cast<char*>(host) + off; // settled (copied out) before the slot is reused
    ring.pending[j] = n;
    return check(
        cudaMemcpyAsync(ring.slot[j].data(), static_cast<const char*>(device) + off, n, cudaMemcpyDeviceToHost, stream),
        "cudaMemcpyAsync");
  }));
  lane.stats.deviceToHostBytes += bytes;
  // The older slot first (next points at it after an even or odd number of pieces alike).
  MX_RETURN_IF_ERROR(settle(ring, ring.next));
  MX_RETURN_IF_ERROR(settle(ring, ring.next ^ 1));
  return core::Status::ok();
}

} // namespace mx::cuda::detail
