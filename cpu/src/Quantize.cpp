// KHR_mesh_quantization: positions become unsigned 16-bit integers on a grid spanning the tile's
// box (the glTF node's scale/translation undo it); normals become normalized signed bytes.
// Rounding to nearest makes the error at most half a grid step per axis.
#include "SimdKernels.h"
#include <mx/core/GridMath.h>
#include <mx/core/StageChecks.h>

#include <mx/cpu/Algorithms.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

namespace mx::cpu {

using core::ErrorCode;
using core::Status;

Status quantize(CpuLevel level, const core::QuantizeInput& in, core::QuantizeOutput& out) {
  MX_RETURN_IF_ERROR(core::validate(in));
  const size_t n = in.positions.size() / 3;
  float origin[3], inv[3];
  for (int a = 0; a < 3; ++a) {
    origin[a] = in.box.min[a];
    const float e = in.box.max[a] - in.box.min[a];
    inv[a] = e > 0 ? 65535.0f / e : 0.0f;
    out.scale[a] = core::quantizationScale(in.box, a);
  }
  out.positions.resize(4 * n);
  out.normals.resize(in.normals.empty() ? 0 : 4 * n);
  constexpr size_t kGrain = 1 << 15;
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, kGrain), [&](const tbb::blocked_range<size_t>& r) {
    const size_t b = r.begin(), count = r.size();
    if (level == CpuLevel::Simd) {
      simd::quantizePositions(in.positions.data() + 3 * b, count, origin, inv, out.positions.data() + 4 * b);
      if (!in.normals.empty()) simd::quantizeNormals(in.normals.data() + 3 * b, count, out.normals.data() + 4 * b);
      return;
    }
    for (size_t i = b; i < r.end(); ++i) {
      for (int a = 0; a < 3; ++a)
        out.positions[4 * i + a] = core::quantizeUnorm16(in.positions[3 * i + a], origin[a], inv[a]);
      out.positions[4 * i + 3] = 0;
      if (in.normals.empty()) continue;
      for (int a = 0; a < 3; ++a) out.normals[4 * i + a] = core::quantizeSnorm8(in.normals[3 * i + a]);
      out.normals[4 * i + 3] = 0;
    }
  });
  return Status::ok();
}

} // namespace mx::cpu
