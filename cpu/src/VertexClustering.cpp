// Vertex clustering (Rossignac & Borrel 1993, "Multi-resolution 3D approximations for rendering
// complex scenes"): snap vertices to a uniform grid, merge the vertices of one class in one cell
// into their mean, drop triangles that collapse. Cells are numbered by first occurrence in vertex
// order (an open-addressing hash table), which makes the output independent of hashing and equal
// to the canonical relabelling a sort-based (GPU) implementation produces.
#include "SimdKernels.h"
#include <mx/core/GridMath.h>
#include <mx/core/StageChecks.h>

#include <mx/cpu/Algorithms.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <array>
#include <bit>
#include <cmath>
#include <vector>

namespace mx::cpu {

using core::ErrorCode;
using core::Status;

void cellCodes(CpuLevel level, std::span<const float> positions, const core::Aabbf& bounds, float cellSize,
               std::span<uint32_t> codes) {
  const size_t n = positions.size() / 3;
  const float origin[3] = {bounds.min[0], bounds.min[1], bounds.min[2]};
  const float inv = 1.0f / cellSize;
  constexpr size_t kGrain = 1 << 15;
  tbb::parallel_for(tbb::blocked_range<size_t>(0, n, kGrain), [&](const tbb::blocked_range<size_t>& r) {
    if (level == CpuLevel::Simd) {
      simd::cellCodes(positions.data() + 3 * r.begin(), r.size(), origin, inv, codes.data() + r.begin());
      return;
    }
    for (size_t i = r.begin(); i < r.end(); ++i)
      codes[i] = core::packCell(core::gridCoord(positions[3 * i], origin[0], inv, 1023.0f),
                                core::gridCoord(positions[3 * i + 1], origin[1], inv, 1023.0f),
                                core::gridCoord(positions[3 * i + 2], origin[2], inv, 1023.0f));
  });
}

Status clusterVertices(CpuLevel level, const core::ClusterInput& in, core::ClusterOutput& out) {
  MX_RETURN_IF_ERROR(core::validate(in));
  const size_t n = in.positions.size() / 3;

  out.remap.assign(n, 0);
  out.positions.clear();
  out.classes.clear();
  out.indices.clear();
  out.maxDisplacement = 0;
  if (n == 0) return Status::ok();

  std::vector<uint32_t> cells(n);
  cellCodes(level, in.positions, in.bounds, in.cellSize, cells);

  // Cell ids by first occurrence: a small direct-mapped cache of recent keys in front of an
  // open-addressing table (key = cell << 32 | class; ~0 never occurs since cells < 2^30) that
  // grows at half load. Meshes list nearby vertices together, so most lookups hit the cache.
  struct Slot {
    uint64_t key;
    uint32_t id;
  };
  constexpr uint64_t kEmpty = ~uint64_t(0);
  unsigned bits = std::max(6u, unsigned(std::bit_width(n / 4)));
  std::vector<Slot> table(size_t(1) << bits, Slot{kEmpty, 0});
  constexpr size_t kCache = 64;
  std::array<uint64_t, kCache> cacheKeys;
  std::array<uint32_t, kCache> cacheIds{};
  cacheKeys.fill(kEmpty);
  // The 8 Morton-consecutive cells of one 2×2×2 block of one class share a run of 8 slots (two
  // cache lines), so nearby vertices probe nearby memory; blocks are scattered by a multiplicative
  // hash so runs stay short.
  auto hashOf = [](uint64_t key, unsigned b) {
    const uint64_t block = (key >> 35) * 0x9E3779B97F4A7C15ull ^ uint64_t(uint32_t(key)) * 0xC2B2AE3D27D4EB4Full;
    return size_t(((block >> 20) << 3 | ((key >> 32) & 7)) & ((uint64_t(1) << b) - 1));
  };
  std::vector<double> sums;
  std::vector<uint32_t> counts;
  sums.reserve(3 * (n / 2 + 1));
  counts.reserve(n / 2 + 1);
  uint32_t cellCount = 0;
  for (size_t v = 0; v < n; ++v) {
    const uint64_t key = (uint64_t(cells[v]) << 32) | in.classes[v];
    const size_t c = size_t((key ^ (key >> 29)) * 0x2545F4914F6CDD1Dull >> 58) & (kCache - 1);
    uint32_t id;
    if (cacheKeys[c] == key) {
      id = cacheIds[c];
    } else {
      size_t mask = table.size() - 1;
      size_t h = hashOf(key, bits);
      while (table[h].key != kEmpty && table[h].key != key) h = (h + 1) & mask;
      if (table[h].key == kEmpty) {
        id = cellCount++;
        table[h] = {key, id};
        sums.insert(sums.end(), {0.0, 0.0, 0.0});
        counts.push_back(0);
        out.classes.push_back(in.classes[v]);
        if (2 * size_t(cellCount) > table.size()) { // grow at half load
          ++bits;
          std::vector<Slot> bigger(size_t(1) << bits, Slot{kEmpty, 0});
          mask = bigger.size() - 1;
          for (const Slot& s : table) {
            if (s.key == kEmpty) continue;
            size_t g = hashOf(s.key, bits);
            while (bigger[g].key != kEmpty) g = (g + 1) & mask;
            bigger[g] = s;
          }
          table.swap(bigger);
        }
      } else {
        id = table[h].id;
      }
      cacheKeys[c] = key;
      cacheIds[c] = id;
    }
    out.remap[v] = id;
    sums[3 * size_t(id)] += in.positions[3 * v];
    sums[3 * size_t(id) + 1] += in.positions[3 * v + 1];
    sums[3 * size_t(id) + 2] += in.positions[3 * v + 2];
    ++counts[id];
  }
  out.positions.resize(3 * size_t(cellCount));
  for (size_t c = 0; c < cellCount; ++c)
    for (int a = 0; a < 3; ++a) out.positions[3 * c + a] = float(sums[3 * c + a] / counts[c]);

  float maxSq = 0;
  for (size_t v = 0; v < n; ++v) {
    const float* p = &in.positions[3 * v];
    const float* m = &out.positions[3 * size_t(out.remap[v])];
    const float dx = p[0] - m[0], dy = p[1] - m[1], dz = p[2] - m[2];
    maxSq = std::max(maxSq, dx * dx + dy * dy + dz * dz);
  }
  out.maxDisplacement = std::sqrt(maxSq);

  out.indices.reserve(in.indices.size());
  for (size_t t = 0; t + 2 < in.indices.size(); t += 3) {
    const uint32_t a = in.indices[t], b = in.indices[t + 1], c = in.indices[t + 2];
    const uint32_t ra = out.remap[a], rb = out.remap[b], rc = out.remap[c];
    if (ra != rb && rb != rc && ra != rc) out.indices.insert(out.indices.end(), {ra, rb, rc});
  }
  return Status::ok();
}

} // namespace mx::cpu
