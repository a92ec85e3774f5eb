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

namespace {

/// Cell ids by first occurrence: a small direct-mapped cache of recent keys in front of an
/// open-addressing table (key = cell << 32 | class; ~0 never occurs since cells < 2^30) that
/// grows at half load. Meshes list nearby vertices together, so most lookups hit the cache.
class CellIds {
public:
  explicit CellIds(size_t vertices)
      : _bits(std::max(6u, unsigned(std::bit_width(vertices / 4)))), _table(size_t(1) << _bits, Slot{kEmpty, 0}) {
    _cacheKeys.fill(kEmpty);
  }

  /// The id of `key`; `added` is set when the key is new (ids count up from 0).
  uint32_t idOf(uint64_t key, bool& added) {
    added = false;
    const size_t c = size_t((key ^ (key >> 29)) * 0x2545F4914F6CDD1Dull >> 58) & (kCache - 1);
    if (_cacheKeys[c] == key) return _cacheIds[c];
    const size_t mask = _table.size() - 1;
    size_t h = hashOf(key, _bits);
    while (_table[h].key != kEmpty && _table[h].key != key) h = (h + 1) & mask;
    uint32_t id;
    if (_table[h].key == kEmpty) {
      id = _count++;
      _table[h] = {key, id};
      added = true;
      if (2 * size_t(_count) > _table.size()) grow(); // at half load
    } else {
      id = _table[h].id;
    }
    _cacheKeys[c] = key;
    _cacheIds[c] = id;
    return id;
  }

  [[nodiscard]] uint32_t count() const { return _count; }

private:
  struct Slot {
    uint64_t key;
    uint32_t id;
  };
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static constexpr size_t kCache = 64;

  /// The 8 Morton-consecutive cells of one 2×2×2 block of one class share a run of 8 slots (two
  /// cache lines), so nearby vertices probe nearby memory; blocks are scattered by a
  /// multiplicative hash so runs stay short.
  static size_t hashOf(uint64_t key, unsigned b) {
    const uint64_t block = (key >> 35) * 0x9E3779B97F4A7C15ull ^ uint64_t(uint32_t(key)) * 0xC2B2AE3D27D4EB4Full;
    return size_t(((block >> 20) << 3 | ((key >> 32) & 7)) & ((uint64_t(1) << b) - 1));
  }

  void grow() {
    ++_bits;
    std::vector<Slot> bigger(size_t(1) << _bits, Slot{kEmpty, 0});
    const size_t mask = bigger.size() - 1;
    for (const Slot& s : _table) {
      if (s.key == kEmpty) continue;
      size_t g = hashOf(s.key, _bits);
      while (bigger[g].key != kEmpty) g = (g + 1) & mask;
      bigger[g] = s;
    }
    _table.swap(bigger);
  }

  unsigned _bits;
  std::vector<Slot> _table;
  std::array<uint64_t, kCache> _cacheKeys;
  std::array<uint32_t, kCache> _cacheIds{};
  uint32_t _count = 0;
};

/// Cells numbered by first occurrence; out.remap, out.classes and out.positions (the means).
void numberCells(const core::ClusterInput& in, const std::vector<uint32_t>& cells, core::ClusterOutput& out) {
  const size_t n = cells.size();
  CellIds ids(n);
  std::vector<double> sums;
  std::vector<uint32_t> counts;
  sums.reserve(3 * (n / 2 + 1));
  counts.reserve(n / 2 + 1);
  for (size_t v = 0; v < n; ++v) {
    bool added;
    const uint32_t id = ids.idOf((uint64_t(cells[v]) << 32) | in.classes[v], added);
    if (added) {
      sums.insert(sums.end(), {0.0, 0.0, 0.0});
      counts.push_back(0);
      out.classes.push_back(in.classes[v]);
    }
    out.remap[v] = id;
    sums[3 * size_t(id)] += in.positions[3 * v];
    sums[3 * size_t(id) + 1] += in.positions[3 * v + 1];
    sums[3 * size_t(id) + 2] += in.positions[3 * v + 2];
    ++counts[id];
  }
  out.positions.resize(3 * size_t(ids.count()));
  for (size_t c = 0; c < ids.count(); ++c)
    for (int a = 0; a < 3; ++a) out.positions[3 * c + a] = float(sums[3 * c + a] / counts[c]);
}

/// The largest distance from a vertex to its cell's mean.
float maxDisplacement(const core::ClusterInput& in, const core::ClusterOutput& out) {
  float maxSq = 0;
  for (size_t v = 0; v < out.remap.size(); ++v) {
    const float* p = &in.positions[3 * v];
    const float* m = &out.positions[3 * size_t(out.remap[v])];
    const float dx = p[0] - m[0], dy = p[1] - m[1], dz = p[2] - m[2];
    maxSq = std::max(maxSq, dx * dx + dy * dy + dz * dz);
  }
  return std::sqrt(maxSq);
}

} // namespace

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
  numberCells(in, cells, out);
  out.maxDisplacement = maxDisplacement(in, out);
  // Triangles whose corners stay in three cells, in input order.
  out.indices.reserve(in.indices.size());
  for (size_t t = 0; t + 2 < in.indices.size(); t += 3) {
    const uint32_t ra = out.remap[in.indices[t]], rb = out.remap[in.indices[t + 1]], rc = out.remap[in.indices[t + 2]];
    if (ra != rb && rb != rc && ra != rc) out.indices.insert(out.indices.end(), {ra, rb, rc});
  }
  return Status::ok();
}

} // namespace mx::cpu
