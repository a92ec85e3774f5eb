// Quantization on the GPU: one thread per vertex, the CPU reference's formulas (mx/core/GridMath.h).
// Exact: output equals cpu-scalar bit for bit. Large inputs go in chunks that alternate between
// the lane's two streams: chunk k + 1's upload and kernel are enqueued before chunk k is read back,
// so the copies in both directions overlap the kernels.
#include "CudaCommon.cuh"
#include <mx/core/GridMath.h>
#include <mx/core/StageChecks.h>

namespace mx::cuda::detail {

namespace {

__global__ void quantizeKernel(const float* __restrict__ pos, const float* __restrict__ nrm, size_t n, float3 origin,
                               float3 inv, uint16_t* __restrict__ qpos, int8_t* __restrict__ qnrm) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    qpos[4 * i] = core::quantizeUnorm16(pos[3 * i], origin.x, inv.x);
    qpos[4 * i + 1] = core::quantizeUnorm16(pos[3 * i + 1], origin.y, inv.y);
    qpos[4 * i + 2] = core::quantizeUnorm16(pos[3 * i + 2], origin.z, inv.z);
    qpos[4 * i + 3] = 0;
    if (nrm) {
      qnrm[4 * i] = core::quantizeSnorm8(nrm[3 * i]);
      qnrm[4 * i + 1] = core::quantizeSnorm8(nrm[3 * i + 1]);
      qnrm[4 * i + 2] = core::quantizeSnorm8(nrm[3 * i + 2]);
      qnrm[4 * i + 3] = 0;
    }
  }
}

} // namespace

core::Status quantizeDevice(Lane& lane, const ChunkPlan& plan, const core::QuantizeInput& in,
                            core::QuantizeOutput& out) {
  const size_t n = in.positions.size() / 3;
  MX_RETURN_IF_ERROR(core::validate(in));
  float origin[3], inv[3];
  for (int a = 0; a < 3; ++a) { // the same host arithmetic as the CPU backend
    origin[a] = in.box.min[a];
    const float e = in.box.max[a] - in.box.min[a];
    inv[a] = e > 0 ? 65535.0f / e : 0.0f;
    out.scale[size_t(a)] = core::quantizationScale(in.box, a);
  }
  out.positions.resize(4 * n);
  out.normals.resize(in.normals.empty() ? 0 : 4 * n);
  if (n == 0) return core::Status::ok();
  const bool normals = !in.normals.empty();
  const size_t C = plan.chunk, K = plan.chunks, slots = K > 1 ? 2 : 1;
  Layout layout;
  size_t o[2][4] = {};
  for (size_t j = 0; j < slots; ++j) {
    o[j][0] = layout.add<float>(3 * C);
    o[j][1] = layout.add<float>(normals ? 3 * C : 0);
    o[j][2] = layout.add<uint16_t>(4 * C);
    o[j][3] = layout.add<int8_t>(normals ? 4 * C : 0);
  }
  MX_RETURN_IF_ERROR(lane.arena.reserve(layout.size()));

  auto enqueue = [&](size_t k) -> core::Status {
    const size_t j = k % 2, first = plan.begin(k), m = plan.size(k, n);
    cudaStream_t st = lane.stream[j];
    float* dPos = at<float>(lane.arena, o[j][0]);
    float* dNrm = normals ? at<float>(lane.arena, o[j][1]) : nullptr;
    MX_RETURN_IF_ERROR(upload(lane, st, dPos, in.positions.data() + 3 * first, 12 * m));
    if (normals) MX_RETURN_IF_ERROR(upload(lane, st, dNrm, in.normals.data() + 3 * first, 12 * m));
    quantizeKernel<<<gridFor(m), 256, 0, st>>>(dPos, dNrm, m, make_float3(origin[0], origin[1], origin[2]),
                                               make_float3(inv[0], inv[1], inv[2]), at<uint16_t>(lane.arena, o[j][2]),
                                               normals ? at<int8_t>(lane.arena, o[j][3]) : nullptr);
    MX_CUDA_TRY(cudaGetLastError());
    return core::Status::ok();
  };
  MX_RETURN_IF_ERROR(enqueue(0));
  for (size_t k = 0; k < K; ++k) {
    if (k + 1 < K) MX_RETURN_IF_ERROR(enqueue(k + 1));
    const size_t j = k % 2, first = plan.begin(k), m = plan.size(k, n);
    MX_RETURN_IF_ERROR(
        download(lane, lane.stream[j], out.positions.data() + 4 * first, at<uint16_t>(lane.arena, o[j][2]), 8 * m));
    if (normals)
      MX_RETURN_IF_ERROR(
          download(lane, lane.stream[j], out.normals.data() + 4 * first, at<int8_t>(lane.arena, o[j][3]), 4 * m));
  }
  return core::Status::ok();
}

} // namespace mx::cuda::detail
