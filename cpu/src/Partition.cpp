// Partition stage: triangle centroids → 30-bit Morton codes → sort → binary BVH whose leaves are
// contiguous ranges of the sorted triangles (Karras 2012, "Maximizing parallelism in the
// construction of BVHs, octrees and k-d trees": a range splits where its highest differing
// Morton bit flips). Deterministic: ties are ordered by triangle id.
#include "SimdKernels.h"

#include <mx/core/Bvh.h>
#include <mx/core/GridMath.h>
#include <mx/core/StageChecks.h>
#include <mx/cpu/Algorithms.h>

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_invoke.h>

#include <algorithm>
#include <bit>
#include <numeric>
#include <tuple>
#include <vector>

namespace mx::cpu {

using core::Aabbf;
using core::ErrorCode;
using core::Status;

namespace {
constexpr size_t kGrain = 1 << 15;
}

void triangleCentroids(std::span<const float> positions, std::span<const uint32_t> indices, std::span<float> cx,
                       std::span<float> cy, std::span<float> cz) {
  const size_t t = indices.size() / 3;
  tbb::parallel_for(tbb::blocked_range<size_t>(0, t, kGrain), [&](const tbb::blocked_range<size_t>& r) {
    constexpr float kThird = 1.0f / 3.0f;
    for (size_t i = r.begin(); i < r.end(); ++i) {
      const float* a = &positions[3 * size_t(indices[3 * i])];
      const float* b = &positions[3 * size_t(indices[3 * i + 1])];
      const float* c = &positions[3 * size_t(indices[3 * i + 2])];
      cx[i] = (a[0] + b[0] + c[0]) * kThird;
      cy[i] = (a[1] + b[1] + c[1]) * kThird;
      cz[i] = (a[2] + b[2] + c[2]) * kThird;
    }
  });
}

Aabbf boundsOf(CpuLevel level, std::span<const float> x, std::span<const float> y, std::span<const float> z) {
  Aabbf box;
  const size_t n = x.size();
  if (n == 0) return box;
  if (level == CpuLevel::Scalar) {
    for (size_t i = 0; i < n; ++i) box.extend(x[i], y[i], z[i]);
    return box;
  }
  const size_t chunks = (n + kGrain - 1) / kGrain;
  std::vector<std::array<float, 6>> partial(chunks);
  tbb::parallel_for(size_t(0), chunks, [&](size_t c) {
    const size_t b = c * kGrain, e = std::min(n, b + kGrain);
    simd::boundsSoA(x.data() + b, y.data() + b, z.data() + b, e - b, partial[c].data());
  });
  for (const auto& p : partial) {
    box.extend(p[0], p[1], p[2]);
    box.extend(p[3], p[4], p[5]);
  }
  return box;
}

void mortonCodes(CpuLevel level, std::span<const float> x, std::span<const float> y, std::span<const float> z,
                 const Aabbf& bounds, std::span<uint32_t> codes) {
  const size_t n = x.size();
  float origin[3], scale[3];
  for (int a = 0; a < 3; ++a) {
    origin[a] = bounds.min[a];
    const float e = bounds.max[a] - bounds.min[a];
    scale[a] = e > 0 ? 1024.0f / e : 0.0f;
  }
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, kGrain), [&](const tbb::blocked_range<size_t>& r) {
    if (level == CpuLevel::Simd) {
      simd::mortonCodes(x.data() + r.begin(), y.data() + r.begin(), z.data() + r.begin(), r.size(), origin, scale,
                        codes.data() + r.begin());
      return;
    }
    for (size_t i = r.begin(); i < r.end(); ++i)
      codes[i] = core::morton3(core::gridCoord(x[i], origin[0], scale[0], 1023.0f),
                               core::gridCoord(y[i], origin[1], scale[1], 1023.0f),
                               core::gridCoord(z[i], origin[2], scale[2], 1023.0f));
  });
}

Status partition(CpuLevel level, const core::PartitionInput& in, core::PartitionOutput& out) {
  MX_RETURN_IF_ERROR(core::validate(in));
  const size_t t = in.indices.size() / 3;
  // Centroids are computed per chunk into a per-thread buffer twice (once for their bounds, once
  // for their codes) instead of being stored: three arrays of t floats would be allocated,
  // faulted in and streamed through memory for nothing else. Same numbers as the three steps.
  const size_t chunks = (t + kGrain - 1) / kGrain;
  struct Centroids {
    std::vector<float> x = std::vector<float>(kGrain), y = std::vector<float>(kGrain), z = std::vector<float>(kGrain);
  };
  tbb::enumerable_thread_specific<Centroids> buffers;
  auto centroidsOf = [&](size_t c) {
    Centroids& b = buffers.local();
    const size_t lo = c * kGrain, n = std::min(t, lo + kGrain) - lo;
    triangleCentroids(in.positions, in.indices.subspan(3 * lo, 3 * n), std::span(b.x).first(n), std::span(b.y).first(n),
                      std::span(b.z).first(n));
    return std::tuple{std::span<const float>(b.x).first(n), std::span<const float>(b.y).first(n),
                      std::span<const float>(b.z).first(n)};
  };
  std::vector<Aabbf> partial(chunks);
  tbb::parallel_for(size_t(0), chunks, [&](size_t c) {
    const auto [x, y, z] = centroidsOf(c);
    partial[c] = boundsOf(level, x, y, z);
  });
  Aabbf bounds;
  for (const Aabbf& b : partial) bounds.extend(b);
  tbb::parallel_invoke([&] { out.codes.resize(t); },
                       [&] { out.order.resize(t); }); // fresh pages, faulted in on two threads
  tbb::parallel_for(size_t(0), chunks, [&](size_t c) {
    const auto [x, y, z] = centroidsOf(c);
    mortonCodes(level, x, y, z, bounds, std::span(out.codes).subspan(c * kGrain, x.size()));
    std::iota(out.order.begin() + std::ptrdiff_t(c * kGrain), out.order.begin() + std::ptrdiff_t(c * kGrain + x.size()),
              uint32_t(c * kGrain));
  });
  sortPairs(level, out.codes, out.order);
  return core::buildBvh(in.positions, in.indices, in.maxTrianglesPerLeaf, out);
}

} // namespace mx::cpu
