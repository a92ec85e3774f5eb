// Vertex clustering on the GPU, sort-based: cell keys (cell Morton code << 32 | class) →
// cub::DeviceRadixSort::SortPairs (stable: a key's vertices stay in index order) → segment heads
// and cub::DeviceScan::InclusiveSum → each segment's first vertex → cells renumbered by first
// vertex (the CPU's first-occurrence numbering, i.e. the canonical relabelling) →
// cub::DeviceSegmentedReduce::Sum of float64 positions per cell → means → displacement
// (cub::DeviceReduce::Max) → remapped triangles, kept in order by cub::DeviceSelect::Flagged.
// Exact: remap, classes and triangles equal cpu-scalar's; means differ from the CPU's sequential
// float64 sums by rounding only (the conformance suite's kClusterMeanTolerance). Deterministic
// run to run (no atomics).
#include "CudaCommon.cuh"
#include <mx/core/GridMath.h>
#include <mx/core/StageChecks.h>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_reduce.cuh>
#include <cub/device/device_scan.cuh>
#include <cub/device/device_segmented_reduce.cuh>
#include <cub/device/device_select.cuh>

#include <algorithm>
#include <cmath>

namespace mx::cuda::detail {

namespace {

#define MX_GRID_STRIDE(i, n)                                                                                           \
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < (n); i += size_t(gridDim.x) * blockDim.x)

__global__ void keysKernel(const float* __restrict__ pos, const uint32_t* __restrict__ cls, size_t n, float3 origin,
                           float inv, uint64_t* __restrict__ keys, uint32_t* __restrict__ ids) {
  MX_GRID_STRIDE(i, n) {
    const uint32_t cell = core::morton3(core::gridCoord(pos[3 * i], origin.x, inv, 1023.0f),
                                        core::gridCoord(pos[3 * i + 1], origin.y, inv, 1023.0f),
                                        core::gridCoord(pos[3 * i + 2], origin.z, inv, 1023.0f));
    keys[i] = uint64_t(cell) << 32 | cls[i];
    ids[i] = uint32_t(i);
  }
}

__global__ void headKernel(const uint64_t* __restrict__ keys, size_t n, uint32_t* __restrict__ head) {
  MX_GRID_STRIDE(i, n) head[i] = (i == 0 || keys[i] != keys[i - 1]) ? 1u : 0u;
}

__global__ void segmentKernel(const uint32_t* __restrict__ head, const uint32_t* __restrict__ segIncl,
                              const uint64_t* __restrict__ keys, const uint32_t* __restrict__ ids, size_t n,
                              uint32_t cells, uint32_t* __restrict__ segStart, uint32_t* __restrict__ first,
                              uint64_t* __restrict__ segKey, uint32_t* __restrict__ segIota) {
  MX_GRID_STRIDE(i, n) {
    if (i == 0) segStart[cells] = uint32_t(n);
    if (!head[i]) continue;
    const uint32_t s = segIncl[i] - 1;
    segStart[s] = uint32_t(i);
    first[s] = ids[i];
    segKey[s] = keys[i];
    segIota[s] = s;
  }
}

__global__ void newIdKernel(const uint32_t* __restrict__ segByFirst, size_t cells, uint32_t* __restrict__ newId) {
  MX_GRID_STRIDE(j, cells) newId[segByFirst[j]] = uint32_t(j);
}

__global__ void remapKernel(const uint32_t* __restrict__ ids, const uint32_t* __restrict__ segIncl,
                            const uint32_t* __restrict__ newId, const float* __restrict__ pos, size_t n,
                            uint32_t* __restrict__ remap, double* __restrict__ sx, double* __restrict__ sy,
                            double* __restrict__ sz) {
  MX_GRID_STRIDE(i, n) {
    const uint32_t v = ids[i];
    remap[v] = newId[segIncl[i] - 1];
    sx[i] = pos[3 * size_t(v)];
    sy[i] = pos[3 * size_t(v) + 1];
    sz[i] = pos[3 * size_t(v) + 2];
  }
}

__global__ void meanKernel(const double* __restrict__ sumX, const double* __restrict__ sumY,
                           const double* __restrict__ sumZ, const uint32_t* __restrict__ segStart,
                           const uint32_t* __restrict__ newId, const uint64_t* __restrict__ segKey, size_t cells,
                           float* __restrict__ mean, uint32_t* __restrict__ cellClass) {
  MX_GRID_STRIDE(s, cells) {
    const uint32_t id = newId[s];
    const uint32_t count = segStart[s + 1] - segStart[s];
    mean[3 * size_t(id)] = float(sumX[s] / count);
    mean[3 * size_t(id) + 1] = float(sumY[s] / count);
    mean[3 * size_t(id) + 2] = float(sumZ[s] / count);
    cellClass[id] = uint32_t(segKey[s]);
  }
}

__global__ void displacementKernel(const float* __restrict__ pos, const float* __restrict__ mean,
                                   const uint32_t* __restrict__ remap, size_t n, float* __restrict__ dispSq) {
  MX_GRID_STRIDE(v, n) {
    const float* m = mean + 3 * size_t(remap[v]);
    const float dx = pos[3 * v] - m[0], dy = pos[3 * v + 1] - m[1], dz = pos[3 * v + 2] - m[2];
    dispSq[v] = dx * dx + dy * dy + dz * dz;
  }
}

__global__ void triangleKernel(const uint32_t* __restrict__ idx, const uint32_t* __restrict__ remap, size_t t,
                               uint3* __restrict__ tri, unsigned char* __restrict__ keep) {
  MX_GRID_STRIDE(i, t) {
    const uint32_t a = remap[idx[3 * i]], b = remap[idx[3 * i + 1]], c = remap[idx[3 * i + 2]];
    tri[i] = make_uint3(a, b, c);
    keep[i] = (a != b && b != c && a != c) ? 1 : 0;
  }
}

} // namespace

core::Status clusterDevice(Lane& lane, const core::ClusterInput& in, core::ClusterOutput& out) {
  const size_t n = in.positions.size() / 3, t = in.indices.size() / 3;
  MX_RETURN_IF_ERROR(core::validate(in));
  out.remap.assign(n, 0);
  out.positions.clear();
  out.classes.clear();
  out.indices.clear();
  out.maxDisplacement = 0;
  if (n == 0) return core::Status::ok();

  // Temp storage of every CUB call, then one layout (CUB shape: query, then run).
  size_t tempBytes = 0, b = 0;
  MX_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, b, static_cast<const uint64_t*>(nullptr),
                                              static_cast<uint64_t*>(nullptr), static_cast<const uint32_t*>(nullptr),
                                              static_cast<uint32_t*>(nullptr), n, 0, 62, lane.stream[0]));
  tempBytes = std::max(tempBytes, b);
  MX_CUDA_TRY(cub::DeviceRadixSort::SortPairs(nullptr, b, static_cast<const uint32_t*>(nullptr),
                                              static_cast<uint32_t*>(nullptr), static_cast<const uint32_t*>(nullptr),
                                              static_cast<uint32_t*>(nullptr), n, 0, 32, lane.stream[0]));
  tempBytes = std::max(tempBytes, b);
  MX_CUDA_TRY(cub::DeviceScan::InclusiveSum(nullptr, b, static_cast<const uint32_t*>(nullptr),
                                            static_cast<uint32_t*>(nullptr), n, lane.stream[0]));
  tempBytes = std::max(tempBytes, b);
  MX_CUDA_TRY(cub::DeviceSegmentedReduce::Sum(nullptr, b, static_cast<const double*>(nullptr),
                                              static_cast<double*>(nullptr), n, static_cast<const uint32_t*>(nullptr),
                                              static_cast<const uint32_t*>(nullptr), lane.stream[0]));
  tempBytes = std::max(tempBytes, b);
  MX_CUDA_TRY(cub::DeviceReduce::Max(nullptr, b, static_cast<const float*>(nullptr), static_cast<float*>(nullptr), n,
                                     lane.stream[0]));
  tempBytes = std::max(tempBytes, b);
  MX_CUDA_TRY(cub::DeviceSelect::Flagged(nullptr, b, static_cast<const uint3*>(nullptr),
                                         static_cast<const unsigned char*>(nullptr), static_cast<uint3*>(nullptr),
                                         static_cast<int*>(nullptr), std::max<size_t>(t, 1), lane.stream[0]));
  tempBytes = std::max(tempBytes, b);

  Layout L;
  const size_t oPos = L.add<float>(3 * n), oCls = L.add<uint32_t>(n), oIdx = L.add<uint32_t>(3 * t);
  const size_t oKeys = L.add<uint64_t>(n), oIds = L.add<uint32_t>(n), oKeysS = L.add<uint64_t>(n),
               oIdsS = L.add<uint32_t>(n);
  const size_t oHead = L.add<uint32_t>(n), oSegIncl = L.add<uint32_t>(n), oSegStart = L.add<uint32_t>(n + 1);
  const size_t oFirst = L.add<uint32_t>(n), oSegKey = L.add<uint64_t>(n), oSegIota = L.add<uint32_t>(n);
  const size_t oFirstS = L.add<uint32_t>(n), oSegByFirst = L.add<uint32_t>(n), oNewId = L.add<uint32_t>(n);
  const size_t oRemap = L.add<uint32_t>(n), oSx = L.add<double>(n), oSy = L.add<double>(n), oSz = L.add<double>(n);
  const size_t oSumX = L.add<double>(n), oSumY = L.add<double>(n), oSumZ = L.add<double>(n);
  const size_t oMean = L.add<float>(3 * n), oCellCls = L.add<uint32_t>(n), oDisp = L.add<float>(n),
               oMaxDisp = L.add<float>(1);
  const size_t oTri = L.add<uint3>(t), oKeep = L.add<unsigned char>(t), oTriSel = L.add<uint3>(t),
               oNumSel = L.add<int>(1);
  const size_t oTemp = L.add<char>(tempBytes);
  MX_RETURN_IF_ERROR(lane.arena.reserve(L.size()));
  DeviceArena& A = lane.arena;
  float* dPos = at<float>(A, oPos);
  uint32_t* dCls = at<uint32_t>(A, oCls);
  uint32_t* dIdx = at<uint32_t>(A, oIdx);
  uint64_t *dKeys = at<uint64_t>(A, oKeys), *dKeysS = at<uint64_t>(A, oKeysS), *dSegKey = at<uint64_t>(A, oSegKey);
  uint32_t *dIds = at<uint32_t>(A, oIds), *dIdsS = at<uint32_t>(A, oIdsS), *dHead = at<uint32_t>(A, oHead);
  uint32_t *dSegIncl = at<uint32_t>(A, oSegIncl), *dSegStart = at<uint32_t>(A, oSegStart),
           *dFirst = at<uint32_t>(A, oFirst);
  uint32_t *dSegIota = at<uint32_t>(A, oSegIota), *dFirstS = at<uint32_t>(A, oFirstS),
           *dSegByFirst = at<uint32_t>(A, oSegByFirst);
  uint32_t *dNewId = at<uint32_t>(A, oNewId), *dRemap = at<uint32_t>(A, oRemap), *dCellCls = at<uint32_t>(A, oCellCls);
  double *dSx = at<double>(A, oSx), *dSy = at<double>(A, oSy), *dSz = at<double>(A, oSz);
  double *dSumX = at<double>(A, oSumX), *dSumY = at<double>(A, oSumY), *dSumZ = at<double>(A, oSumZ);
  float *dMean = at<float>(A, oMean), *dDisp = at<float>(A, oDisp), *dMaxDisp = at<float>(A, oMaxDisp);
  uint3 *dTri = at<uint3>(A, oTri), *dTriSel = at<uint3>(A, oTriSel);
  unsigned char* dKeep = at<unsigned char>(A, oKeep);
  int* dNumSel = at<int>(A, oNumSel);
  void* dTemp = A.data() + oTemp;
  cudaStream_t s = lane.stream[0];

  MX_RETURN_IF_ERROR(upload(lane, s, dPos, in.positions.data(), 12 * n));
  MX_RETURN_IF_ERROR(upload(lane, s, dCls, in.classes.data(), 4 * n));
  MX_RETURN_IF_ERROR(upload(lane, s, dIdx, in.indices.data(), 12 * t));

  const float inv = 1.0f / in.cellSize; // the same host arithmetic as cpu::cellCodes
  keysKernel<<<gridFor(n), 256, 0, s>>>(
      dPos, dCls, n, make_float3(in.bounds.min[0], in.bounds.min[1], in.bounds.min[2]), inv, dKeys, dIds);
  MX_CUDA_TRY(cudaGetLastError());
  b = tempBytes;
  MX_CUDA_TRY(cub::DeviceRadixSort::SortPairs(dTemp, b, dKeys, dKeysS, dIds, dIdsS, n, 0, 62, s));
  headKernel<<<gridFor(n), 256, 0, s>>>(dKeysS, n, dHead);
  MX_CUDA_TRY(cudaGetLastError());
  b = tempBytes;
  MX_CUDA_TRY(cub::DeviceScan::InclusiveSum(dTemp, b, dHead, dSegIncl, n, s));
  uint32_t cells = 0;
  MX_CUDA_TRY(cudaMemcpyAsync(&cells, dSegIncl + n - 1, 4, cudaMemcpyDeviceToHost, s));
  MX_CUDA_TRY(cudaStreamSynchronize(s)); // the cell count sizes the launches below
  segmentKernel<<<gridFor(n), 256, 0, s>>>(dHead, dSegIncl, dKeysS, dIdsS, n, cells, dSegStart, dFirst, dSegKey,
                                           dSegIota);
  MX_CUDA_TRY(cudaGetLastError());
  b = tempBytes;
  MX_CUDA_TRY(cub::DeviceRadixSort::SortPairs(dTemp, b, dFirst, dFirstS, dSegIota, dSegByFirst, cells, 0, 32, s));
  newIdKernel<<<gridFor(cells), 256, 0, s>>>(dSegByFirst, cells, dNewId);
  remapKernel<<<gridFor(n), 256, 0, s>>>(dIdsS, dSegIncl, dNewId, dPos, n, dRemap, dSx, dSy, dSz);
  MX_CUDA_TRY(cudaGetLastError());
  double* sums[3] = {dSumX, dSumY, dSumZ};
  double* parts[3] = {dSx, dSy, dSz};
  for (int a = 0; a < 3; ++a) {
    b = tempBytes;
    MX_CUDA_TRY(cub::DeviceSegmentedReduce::Sum(dTemp, b, parts[a], sums[a], cells, dSegStart, dSegStart + 1, s));
  }
  meanKernel<<<gridFor(cells), 256, 0, s>>>(dSumX, dSumY, dSumZ, dSegStart, dNewId, dSegKey, cells, dMean, dCellCls);
  displacementKernel<<<gridFor(n), 256, 0, s>>>(dPos, dMean, dRemap, n, dDisp);
  MX_CUDA_TRY(cudaGetLastError());
  b = tempBytes;
  MX_CUDA_TRY(cub::DeviceReduce::Max(dTemp, b, dDisp, dMaxDisp, n, s));
  int kept = 0;
  if (t) {
    triangleKernel<<<gridFor(t), 256, 0, s>>>(dIdx, dRemap, t, dTri, dKeep);
    MX_CUDA_TRY(cudaGetLastError());
    b = tempBytes;
    MX_CUDA_TRY(cub::DeviceSelect::Flagged(dTemp, b, dTri, dKeep, dTriSel, dNumSel, t, s));
    MX_CUDA_TRY(cudaMemcpyAsync(&kept, dNumSel, 4, cudaMemcpyDeviceToHost, s));
  }
  float maxSq = 0;
  MX_CUDA_TRY(cudaMemcpyAsync(&maxSq, dMaxDisp, 4, cudaMemcpyDeviceToHost, s));
  MX_CUDA_TRY(cudaStreamSynchronize(s));

  out.positions.resize(3 * size_t(cells));
  out.classes.resize(cells);
  out.indices.resize(3 * size_t(kept));
  MX_RETURN_IF_ERROR(download(lane, s, out.remap.data(), dRemap, 4 * n));
  MX_RETURN_IF_ERROR(download(lane, s, out.positions.data(), dMean, 12 * size_t(cells)));
  MX_RETURN_IF_ERROR(download(lane, s, out.classes.data(), dCellCls, 4 * size_t(cells)));
  MX_RETURN_IF_ERROR(download(lane, s, out.indices.data(), dTriSel, 12 * size_t(kept)));
  lane.stats.deviceToHostBytes += 12; // the cell count, kept triangles and displacement read back above
  out.maxDisplacement = std::sqrt(maxSq);
  return core::Status::ok();
}

} // namespace mx::cuda::detail
