// Partition on the GPU: triangle centroids and their bounds (cub::DeviceReduce), 30-bit Morton
// codes, cub::DeviceRadixSort::SortPairs (stable, so ties keep triangle-id order), then the BVH over
// the sorted codes with the CPU's split rule (core::buildBvh: the splits are a few binary searches;
// node bounds are a host pass over the leaves). Exact: order, codes and nodes equal cpu-scalar's.
// Chunked when the input exceeds the lane's budget: positions stay on the device, triangles go in
// chunks that alternate between the lane's two streams (the next chunk's upload and centroids
// overlap this chunk's sort), twice: once for the bounds of every centroid, once for the codes; each
// chunk is sorted on the device and the sorted runs are merged on the host (core::mergeSortedRuns).
// One chunk (the usual case) sorts everything on the device and merges nothing.
#include "CudaCommon.cuh"

#include <mx/core/Bvh.h>
#include <mx/core/GridMath.h>
#include <mx/core/SortedRuns.h>
#include <mx/core/StageChecks.h>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_reduce.cuh>

namespace mx::cuda::detail {

namespace {

__global__ void centroidKernel(const float* __restrict__ pos, const uint32_t* __restrict__ idx, size_t t,
                               float* __restrict__ cx, float* __restrict__ cy, float* __restrict__ cz) {
  constexpr float kThird = 1.0f / 3.0f;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < t; i += size_t(gridDim.x) * blockDim.x) {
    const float* a = pos + 3 * size_t(idx[3 * i]);
    const float* b = pos + 3 * size_t(idx[3 * i + 1]);
    const float* c = pos + 3 * size_t(idx[3 * i + 2]);
    cx[i] = (a[0] + b[0] + c[0]) * kThird;
    cy[i] = (a[1] + b[1] + c[1]) * kThird;
    cz[i] = (a[2] + b[2] + c[2]) * kThird;
  }
}

__global__ void mortonKernel(const float* __restrict__ cx, const float* __restrict__ cy, const float* __restrict__ cz,
                             size_t t, uint32_t firstId, float3 origin, float3 scale, uint32_t* __restrict__ codes,
                             uint32_t* __restrict__ ids) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < t; i += size_t(gridDim.x) * blockDim.x) {
    codes[i] = core::morton3(core::gridCoord(cx[i], origin.x, scale.x, 1023.0f),
                             core::gridCoord(cy[i], origin.y, scale.y, 1023.0f),
                             core::gridCoord(cz[i], origin.z, scale.z, 1023.0f));
    ids[i] = firstId + uint32_t(i);
  }
}

__global__ void packKernel(const uint32_t* __restrict__ codes, const uint32_t* __restrict__ ids, size_t t,
                           unsigned long long* __restrict__ packed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < t; i += size_t(gridDim.x) * blockDim.x)
    packed[i] = (unsigned long long)codes[i] << 32 | ids[i];
}

/// One chunk slot's device buffers.
struct Slot {
  uint32_t* idx;
  float *cx, *cy, *cz;
  uint32_t *codes, *ids, *codesOut, *idsOut;
  unsigned long long* packed;
  void* temp;
};

} // namespace

core::Status partitionDevice(Lane& lane, const ChunkPlan& plan, const core::PartitionInput& in,
                             core::PartitionOutput& out) {
  MX_RETURN_IF_ERROR(core::validate(in));
  const size_t t = in.indices.size() / 3, v = in.positions.size() / 3;
  out.order.clear();
  out.codes.clear();
  out.nodes.clear();
  if (t == 0) return core::Status::ok();
  const size_t C = plan.chunk, K = plan.chunks, slots = K > 1 ? 2 : 1;

  // Temp storage sizes first (CUB shape), then one arena layout for the whole call.
  size_t tempBytes = 0, b = 0;
  MX_CUDA_TRY(cub::DeviceReduce::Min(nullptr, b, static_cast<const float*>(nullptr), static_cast<float*>(nullptr), C,
                                     lane.stream[0]));
  tempBytes = std::max(tempBytes, b);
  MX_CUDA_TRY(cub::DeviceReduce::Max(nullptr, b, static_cast<const float*>(nullptr), static_cast<float*>(nullptr), C,
                                     lane.stream[0]));
  tempBytes = std::max(tempBytes, b);
  MX_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, b, static_cast<const uint32_t*>(nullptr),
                                              static_cast<uint32_t*>(nullptr), static_cast<const uint32_t*>(nullptr),
                                              static_cast<uint32_t*>(nullptr), C, 0, 30, lane.stream[0]));
  tempBytes = std::max(tempBytes, b);
  Layout layout;
  const size_t oPos = layout.add<float>(3 * v), oBounds = layout.add<float>(6 * K);
  size_t o[2][10] = {};
  for (size_t j = 0; j < slots; ++j) {
    o[j][0] = layout.add<uint32_t>(3 * C);
    for (int a = 1; a <= 3; ++a) o[j][a] = layout.add<float>(C);
    for (int a = 4; a <= 7; ++a) o[j][a] = layout.add<uint32_t>(C);
    o[j][8] = layout.add<unsigned long long>(K > 1 ? C : 0);
    o[j][9] = layout.add<char>(tempBytes);
  }
  MX_RETURN_IF_ERROR(lane.arena.reserve(layout.size()));
  DeviceArena& A = lane.arena;
  float* dPos = at<float>(A, oPos);
  float* dBounds = at<float>(A, oBounds);
  Slot slot[2] = {};
  for (size_t j = 0; j < slots; ++j)
    slot[j] = {at<uint32_t>(A, o[j][0]), at<float>(A, o[j][1]),    at<float>(A, o[j][2]),
               at<float>(A, o[j][3]),    at<uint32_t>(A, o[j][4]), at<uint32_t>(A, o[j][5]),
               at<uint32_t>(A, o[j][6]), at<uint32_t>(A, o[j][7]), at<unsigned long long>(A, o[j][8]),
               A.data() + o[j][9]};

  MX_RETURN_IF_ERROR(upload(lane, lane.stream[0], dPos, in.positions.data(), 12 * v));
  MX_CUDA_TRY(cudaEventRecord(lane.ready, lane.stream[0]));
  MX_CUDA_TRY(cudaStreamWaitEvent(lane.stream[1], lane.ready, 0));

  // Chunk k's centroids in its slot (its indices uploaded first).
  auto centroids = [&](size_t k) -> core::Status {
    const Slot& S = slot[k % 2];
    cudaStream_t st = lane.stream[k % 2];
    const size_t n = plan.size(k, t);
    MX_RETURN_IF_ERROR(upload(lane, st, S.idx, in.indices.data() + 3 * plan.begin(k), 12 * n));
    centroidKernel<<<gridFor(n), 256, 0, st>>>(dPos, S.idx, n, S.cx, S.cy, S.cz);
    MX_CUDA_TRY(cudaGetLastError());
    return core::Status::ok();
  };
  // Pass 1: bounds of every chunk's centroids.
  for (size_t k = 0; k < K; ++k) {
    MX_RETURN_IF_ERROR(centroids(k));
    const Slot& S = slot[k % 2];
    cudaStream_t st = lane.stream[k % 2];
    const size_t n = plan.size(k, t);
    const float* axes[3] = {S.cx, S.cy, S.cz};
    for (int a = 0; a < 3; ++a) {
      b = tempBytes;
      MX_CUDA_TRY(cub::DeviceReduce::Min(S.temp, b, axes[a], dBounds + 6 * k + a, n, st));
      b = tempBytes;
      MX_CUDA_TRY(cub::DeviceReduce::Max(S.temp, b, axes[a], dBounds + 6 * k + 3 + a, n, st));
    }
  }
  MX_CUDA_TRY(cudaEventRecord(lane.joined, lane.stream[1]));
  MX_CUDA_TRY(cudaStreamWaitEvent(lane.stream[0], lane.joined, 0));
  std::vector<float> chunkBounds(6 * K);
  MX_RETURN_IF_ERROR(download(lane, lane.stream[0], chunkBounds.data(), dBounds,
                              4 * chunkBounds.size())); // read-back: the grid is host arithmetic
  float bounds[6] = {chunkBounds[0], chunkBounds[1], chunkBounds[2], chunkBounds[3], chunkBounds[4], chunkBounds[5]};
  for (size_t k = 1; k < K; ++k)
    for (int a = 0; a < 3; ++a) {
      bounds[a] = std::min(bounds[a], chunkBounds[6 * k + a]);
      bounds[3 + a] = std::max(bounds[3 + a], chunkBounds[6 * k + 3 + a]);
    }
  float origin[3], scale[3];
  for (int a = 0; a < 3; ++a) { // the same host arithmetic as cpu::mortonCodes
    origin[a] = bounds[a];
    const float e = bounds[3 + a] - bounds[a];
    scale[a] = e > 0 ? 1024.0f / e : 0.0f;
  }

  // Pass 2: codes and a device sort per chunk (one chunk: its centroids are still there).
  auto sortChunk = [&](size_t k) -> core::Status {
    if (K > 1) MX_RETURN_IF_ERROR(centroids(k));
    const Slot& S = slot[k % 2];
    cudaStream_t st = lane.stream[k % 2];
    const size_t n = plan.size(k, t);
    mortonKernel<<<gridFor(n), 256, 0, st>>>(S.cx, S.cy, S.cz, n, uint32_t(plan.begin(k)),
                                             make_float3(origin[0], origin[1], origin[2]),
                                             make_float3(scale[0], scale[1], scale[2]), S.codes, S.ids);
    MX_CUDA_TRY(cudaGetLastError());
    size_t bytes = tempBytes;
    MX_CUDA_TRY(cub::DeviceRadixSort::SortPairs(S.temp, bytes, S.codes, S.codesOut, S.ids, S.idsOut, n, 0, 30, st));
    if (K > 1) {
      packKernel<<<gridFor(n), 256, 0, st>>>(S.codesOut, S.idsOut, n, S.packed);
      MX_CUDA_TRY(cudaGetLastError());
    }
    return core::Status::ok();
  };
  out.codes.resize(t);
  out.order.resize(t);
  if (K == 1) {
    MX_RETURN_IF_ERROR(sortChunk(0));
    MX_RETURN_IF_ERROR(download(lane, lane.stream[0], out.codes.data(), slot[0].codesOut, 4 * t));
    MX_RETURN_IF_ERROR(download(lane, lane.stream[0], out.order.data(), slot[0].idsOut, 4 * t));
  } else {
    // Chunk k + 1 is enqueued on the other stream before chunk k is read back.
    std::vector<uint64_t> packed(t);
    MX_RETURN_IF_ERROR(sortChunk(0));
    for (size_t k = 0; k < K; ++k) {
      if (k + 1 < K) MX_RETURN_IF_ERROR(sortChunk(k + 1));
      MX_RETURN_IF_ERROR(
          download(lane, lane.stream[k % 2], packed.data() + plan.begin(k), slot[k % 2].packed, 8 * plan.size(k, t)));
    }
    std::vector<size_t> runs(K + 1);
    for (size_t k = 0; k <= K; ++k) runs[k] = std::min(t, plan.begin(k));
    core::mergeSortedRuns(packed, runs, out.codes, out.order);
  }
  return core::buildBvh(in.positions, in.indices, in.maxTrianglesPerLeaf, out);
}

} // namespace mx::cuda::detail
