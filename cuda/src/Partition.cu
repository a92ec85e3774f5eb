// Partition on the GPU: centroids and their bounds (cub::DeviceReduce), 30-bit Morton codes,
// cub::DeviceRadixSort::SortPairs (stable, so ties keep triangle-id order), then the BVH over the
// sorted codes with the CPU's split rule (cpu::buildBvh on the read-back codes: the splits are a
// few binary searches; node bounds are a host pass over the leaves). Exact: order, codes and nodes
// equal cpu-scalar's.
#include "CudaCommon.cuh"
#include "GridMath.cuh"

#include <mx/cpu/Algorithms.h>

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
                             size_t t, float3 origin, float3 scale, uint32_t* __restrict__ codes,
                             uint32_t* __restrict__ ids) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < t; i += size_t(gridDim.x) * blockDim.x) {
    codes[i] = morton3(gridCoord(cx[i], origin.x, scale.x, 1023.0f), gridCoord(cy[i], origin.y, scale.y, 1023.0f),
                       gridCoord(cz[i], origin.z, scale.z, 1023.0f));
    ids[i] = uint32_t(i);
  }
}

} // namespace

core::Status partitionDevice(Context& ctx, const core::PartitionInput& in, core::PartitionOutput& out) {
  if (in.maxTrianglesPerLeaf == 0) return {core::ErrorCode::InvalidArgument, "maxTrianglesPerLeaf must be >= 1"};
  if (in.indices.size() % 3 != 0 || in.positions.size() % 3 != 0)
    return {core::ErrorCode::InvalidArgument, "positions and indices must come in triples"};
  const size_t t = in.indices.size() / 3, v = in.positions.size() / 3;
  for (uint32_t i : in.indices)
    if (i >= v) return {core::ErrorCode::MalformedInput, "triangle index " + std::to_string(i) + " >= vertex count " + std::to_string(v)};
  out.order.clear();
  out.codes.clear();
  out.nodes.clear();
  if (t == 0) return core::Status::ok();

  // Temp storage sizes first (CUB shape), then one arena layout for the whole call.
  size_t reduceBytes = 0, sortBytes = 0;
  MX_CUDA_TRY(cub::DeviceReduce::Min(nullptr, reduceBytes, static_cast<const float*>(nullptr), static_cast<float*>(nullptr), t, ctx.stream));
  size_t maxBytes = 0;
  MX_CUDA_TRY(cub::DeviceReduce::Max(nullptr, maxBytes, static_cast<const float*>(nullptr), static_cast<float*>(nullptr), t, ctx.stream));
  reduceBytes = std::max(reduceBytes, maxBytes);
  MX_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, sortBytes, static_cast<const uint32_t*>(nullptr), static_cast<uint32_t*>(nullptr),
                                              static_cast<const uint32_t*>(nullptr), static_cast<uint32_t*>(nullptr), t, 0, 30, ctx.stream));
  Layout layout;
  const size_t oPos = layout.add<float>(3 * v), oIdx = layout.add<uint32_t>(3 * t);
  const size_t oCx = layout.add<float>(t), oCy = layout.add<float>(t), oCz = layout.add<float>(t);
  const size_t oBounds = layout.add<float>(6);
  const size_t oCodes = layout.add<uint32_t>(t), oIds = layout.add<uint32_t>(t);
  const size_t oCodesOut = layout.add<uint32_t>(t), oIdsOut = layout.add<uint32_t>(t);
  const size_t oTemp = layout.add<char>(std::max(reduceBytes, sortBytes));
  MX_RETURN_IF_ERROR(ctx.arena.reserve(layout.size()));
  float* dPos = at<float>(ctx.arena, oPos);
  uint32_t* dIdx = at<uint32_t>(ctx.arena, oIdx);
  float *dCx = at<float>(ctx.arena, oCx), *dCy = at<float>(ctx.arena, oCy), *dCz = at<float>(ctx.arena, oCz);
  float* dBounds = at<float>(ctx.arena, oBounds);
  uint32_t *dCodes = at<uint32_t>(ctx.arena, oCodes), *dIds = at<uint32_t>(ctx.arena, oIds);
  uint32_t *dCodesOut = at<uint32_t>(ctx.arena, oCodesOut), *dIdsOut = at<uint32_t>(ctx.arena, oIdsOut);
  void* dTemp = ctx.arena.base() + oTemp;

  MX_CUDA_TRY(cudaMemcpyAsync(dPos, in.positions.data(), 12 * v, cudaMemcpyHostToDevice, ctx.stream));
  MX_CUDA_TRY(cudaMemcpyAsync(dIdx, in.indices.data(), 12 * t, cudaMemcpyHostToDevice, ctx.stream));
  ctx.stats.hostToDeviceBytes += 12 * (v + t);
  centroidKernel<<<gridFor(t), 256, 0, ctx.stream>>>(dPos, dIdx, t, dCx, dCy, dCz);
  MX_CUDA_TRY(cudaGetLastError());
  const float* axes[3] = {dCx, dCy, dCz};
  for (int a = 0; a < 3; ++a) {
    size_t bytes = reduceBytes;
    MX_CUDA_TRY(cub::DeviceReduce::Min(dTemp, bytes, axes[a], dBounds + a, t, ctx.stream));
    bytes = reduceBytes;
    MX_CUDA_TRY(cub::DeviceReduce::Max(dTemp, bytes, axes[a], dBounds + 3 + a, t, ctx.stream));
  }
  float bounds[6];
  MX_CUDA_TRY(cudaMemcpyAsync(bounds, dBounds, sizeof bounds, cudaMemcpyDeviceToHost, ctx.stream));
  MX_CUDA_TRY(cudaStreamSynchronize(ctx.stream)); // the grid's origin and scale are host arithmetic
  float origin[3], scale[3];
  for (int a = 0; a < 3; ++a) { // the same host arithmetic as cpu::mortonCodes
    origin[a] = bounds[a];
    const float e = bounds[3 + a] - bounds[a];
    scale[a] = e > 0 ? 1024.0f / e : 0.0f;
  }
  mortonKernel<<<gridFor(t), 256, 0, ctx.stream>>>(dCx, dCy, dCz, t, make_float3(origin[0], origin[1], origin[2]),
                                                   make_float3(scale[0], scale[1], scale[2]), dCodes, dIds);
  MX_CUDA_TRY(cudaGetLastError());
  size_t bytes = sortBytes;
  MX_CUDA_TRY(cub::DeviceRadixSort::SortPairs(dTemp, bytes, dCodes, dCodesOut, dIds, dIdsOut, t, 0, 30, ctx.stream));
  out.codes.resize(t);
  out.order.resize(t);
  MX_CUDA_TRY(cudaMemcpyAsync(out.codes.data(), dCodesOut, 4 * t, cudaMemcpyDeviceToHost, ctx.stream));
  MX_CUDA_TRY(cudaMemcpyAsync(out.order.data(), dIdsOut, 4 * t, cudaMemcpyDeviceToHost, ctx.stream));
  ctx.stats.deviceToHostBytes += 8 * t;
  MX_CUDA_TRY(cudaStreamSynchronize(ctx.stream));
  return cpu::buildBvh(cpu::CpuLevel::Simd, in.positions, in.indices, in.maxTrianglesPerLeaf, out);
}

} // namespace mx::cuda::detail
