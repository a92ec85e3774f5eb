// Quantization on the GPU: one thread per vertex, the CPU reference's formulas (GridMath.cuh).
// Exact: output equals cpu-scalar bit for bit.
#include "CudaCommon.cuh"
#include "GridMath.cuh"

namespace mx::cuda::detail {

namespace {

__global__ void quantizeKernel(const float* __restrict__ pos, const float* __restrict__ nrm, size_t n, float3 origin,
                               float3 inv, uint16_t* __restrict__ qpos, int8_t* __restrict__ qnrm) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    qpos[4 * i] = quantizeUnorm16(pos[3 * i], origin.x, inv.x);
    qpos[4 * i + 1] = quantizeUnorm16(pos[3 * i + 1], origin.y, inv.y);
    qpos[4 * i + 2] = quantizeUnorm16(pos[3 * i + 2], origin.z, inv.z);
    qpos[4 * i + 3] = 0;
    if (nrm) {
      qnrm[4 * i] = quantizeSnorm8(nrm[3 * i]);
      qnrm[4 * i + 1] = quantizeSnorm8(nrm[3 * i + 1]);
      qnrm[4 * i + 2] = quantizeSnorm8(nrm[3 * i + 2]);
      qnrm[4 * i + 3] = 0;
    }
  }
}

} // namespace

core::Status quantizeDevice(Context& ctx, const core::QuantizeInput& in, core::QuantizeOutput& out) {
  const size_t n = in.positions.size() / 3;
  if (in.positions.size() % 3 != 0) return {core::ErrorCode::InvalidArgument, "positions must come in triples"};
  if (!in.normals.empty() && in.normals.size() != in.positions.size())
    return {core::ErrorCode::InvalidArgument, "normals must be empty or one per position"};
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
  Layout layout;
  const size_t oPos = layout.add<float>(3 * n), oNrm = layout.add<float>(normals ? 3 * n : 0);
  const size_t oQPos = layout.add<uint16_t>(4 * n), oQNrm = layout.add<int8_t>(normals ? 4 * n : 0);
  MX_RETURN_IF_ERROR(ctx.arena.reserve(layout.size()));
  float* dPos = at<float>(ctx.arena, oPos);
  float* dNrm = normals ? at<float>(ctx.arena, oNrm) : nullptr;
  uint16_t* dQPos = at<uint16_t>(ctx.arena, oQPos);
  int8_t* dQNrm = normals ? at<int8_t>(ctx.arena, oQNrm) : nullptr;

  MX_CUDA_TRY(cudaMemcpyAsync(dPos, in.positions.data(), 12 * n, cudaMemcpyHostToDevice, ctx.stream));
  if (normals) MX_CUDA_TRY(cudaMemcpyAsync(dNrm, in.normals.data(), 12 * n, cudaMemcpyHostToDevice, ctx.stream));
  ctx.stats.hostToDeviceBytes += (normals ? 24 : 12) * n;
  quantizeKernel<<<gridFor(n), 256, 0, ctx.stream>>>(dPos, dNrm, n, make_float3(origin[0], origin[1], origin[2]),
                                                     make_float3(inv[0], inv[1], inv[2]), dQPos, dQNrm);
  MX_CUDA_TRY(cudaGetLastError());
  MX_CUDA_TRY(cudaMemcpyAsync(out.positions.data(), dQPos, 8 * n, cudaMemcpyDeviceToHost, ctx.stream));
  if (normals) MX_CUDA_TRY(cudaMemcpyAsync(out.normals.data(), dQNrm, 4 * n, cudaMemcpyDeviceToHost, ctx.stream));
  ctx.stats.deviceToHostBytes += (normals ? 12 : 8) * n;
  MX_CUDA_TRY(cudaStreamSynchronize(ctx.stream)); // the outputs are host vectors
  return core::Status::ok();
}

} // namespace mx::cuda::detail
