// Invariants of each CPU algorithm, at both levels (scalar reference and Highway SIMD).
#include <mx/core/SortedRuns.h>
#include <mx/cpu/Algorithms.h>
#include <mx/cpu/CpuBackend.h>
#include <mx/datasets/Generators.h>

#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

using namespace mx;
using cpu::CpuLevel;

namespace {

using Flat = datasets::FlatMesh;
using datasets::flatten;

class CpuLevels : public ::testing::TestWithParam<CpuLevel> {};

std::string levelName(const ::testing::TestParamInfo<CpuLevel>& info) { return std::string(cpu::toString(info.param)); }

} // namespace

TEST(Morton, KnownCodes) {
  std::vector<float> x{0, 1023.9f, 0, 0, 1023.9f}, y{0, 0, 1023.9f, 0, 1023.9f}, z{0, 0, 0, 1023.9f, 1023.9f};
  core::Aabbf b;
  b.extend(0, 0, 0);
  b.extend(1024, 1024, 1024);
  std::vector<uint32_t> codes(5);
  cpu::mortonCodes(CpuLevel::Scalar, x, y, z, b, codes);
  EXPECT_EQ(codes[0], 0u);
  EXPECT_EQ(codes[1], 0x24924924u); // x bits land at 3i+2
  EXPECT_EQ(codes[2], 0x12492492u);
  EXPECT_EQ(codes[3], 0x09249249u);
  EXPECT_EQ(codes[4], 0x3FFFFFFFu);
}

TEST_P(CpuLevels, MortonMatchesScalarOnOddSizes) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-50, 80);
  for (size_t n : {0u, 1u, 3u, 17u, 1000u, 65537u}) {
    SCOPED_TRACE("n=" + std::to_string(n) + " seed=7");
    std::vector<float> x(n), y(n), z(n);
    for (size_t i = 0; i < n; ++i) {
      x[i] = u(rng);
      y[i] = u(rng);
      z[i] = u(rng);
    }
    const core::Aabbf b = cpu::boundsOf(CpuLevel::Scalar, x, y, z);
    EXPECT_EQ(b, cpu::boundsOf(GetParam(), x, y, z));
    std::vector<uint32_t> ref(n), got(n);
    cpu::mortonCodes(CpuLevel::Scalar, x, y, z, b, ref);
    cpu::mortonCodes(GetParam(), x, y, z, b, got);
    EXPECT_EQ(ref, got);
  }
}

TEST_P(CpuLevels, SortPairsIsSortedAndStable) {
  std::mt19937 rng(11);
  for (size_t n : {0u, 1u, 2u, 100u, 70001u, 300000u}) {
    SCOPED_TRACE("n=" + std::to_string(n) + " seed=11");
    std::vector<uint32_t> keys(n), values(n);
    for (size_t i = 0; i < n; ++i) keys[i] = rng() % 5000; // many duplicates
    std::iota(values.begin(), values.end(), 0u);
    std::vector<std::pair<uint32_t, uint32_t>> ref(n);
    for (size_t i = 0; i < n; ++i) ref[i] = {keys[i], values[i]};
    std::stable_sort(ref.begin(), ref.end(), [](auto& a, auto& b) { return a.first < b.first; });
    cpu::sortPairs(GetParam(), keys, values);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(keys[i], ref[i].first) << i;
      ASSERT_EQ(values[i], ref[i].second) << i;
    }
  }
}

TEST_P(CpuLevels, SortPairsGivesTheSameOrderForAnyThreadCount) {
  // Large enough for the SIMD level to sort 2, 4 and 8 slices in parallel and merge them (slices
  // of ≥ 1 M keys; the size is no multiple of the slice count).
  const size_t n = (size_t(8) << 20) + 12345;
  std::mt19937 rng(12);
  std::vector<uint32_t> keys(n), values(n);
  for (size_t i = 0; i < n; ++i) keys[i] = rng() % 100000;
  std::iota(values.begin(), values.end(), 0u);
  std::vector<uint64_t> ref(n);
  for (size_t i = 0; i < n; ++i) ref[i] = uint64_t(keys[i]) << 32 | values[i];
  std::sort(ref.begin(), ref.end()); // (key, index) pairs are distinct: the stable order
  for (int threads : {1, 2, 3, 8}) {
    SCOPED_TRACE("threads=" + std::to_string(threads) + " seed=12");
    std::vector<uint32_t> k = keys, v = values;
    tbb::task_arena arena(threads);
    arena.execute([&] { cpu::sortPairs(GetParam(), k, v); });
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(k[i], uint32_t(ref[i] >> 32)) << i;
      ASSERT_EQ(v[i], uint32_t(ref[i])) << i;
    }
  }
}

TEST(MergeSortedRuns, MergesAnyNumberOfRunsOfAnySize) {
  // The CUDA backend sorts a partition chunk by chunk and merges the runs here: run counts that
  // are not powers of two, empty runs, one run, runs of one word, many equal keys.
  std::mt19937 rng(21);
  const std::vector<std::vector<size_t>> shapes = {{},
                                                   {5},
                                                   {0, 0, 7, 0},
                                                   {1, 1, 1},
                                                   {3, 0, 9, 1, 4},
                                                   {100000, 70001, 3, 250000, 1, 99999, 4097},
                                                   {1u << 20, (1u << 20) + 5, 12345}};
  for (const auto& shape : shapes) {
    size_t n = 0;
    std::vector<size_t> bounds{0};
    for (size_t len : shape) bounds.push_back(n += len);
    SCOPED_TRACE("runs=" + std::to_string(shape.size()) + " n=" + std::to_string(n) + " seed=21");
    std::vector<uint64_t> packed(n);
    for (size_t i = 0; i < n; ++i) packed[i] = uint64_t(rng() % 1000) << 32 | uint32_t(i); // distinct words
    for (size_t r = 0; r + 1 < bounds.size(); ++r)
      std::sort(packed.begin() + std::ptrdiff_t(bounds[r]), packed.begin() + std::ptrdiff_t(bounds[r + 1]));
    std::vector<uint64_t> ref = packed;
    std::sort(ref.begin(), ref.end());
    for (int threads : {1, 3}) {
      std::vector<uint64_t> work = packed;
      std::vector<uint32_t> keys(n), values(n);
      tbb::task_arena arena(threads);
      arena.execute([&] { core::mergeSortedRuns(work, bounds, keys, values); });
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(keys[i], uint32_t(ref[i] >> 32)) << i << " threads=" << threads;
        ASSERT_EQ(values[i], uint32_t(ref[i])) << i << " threads=" << threads;
      }
    }
  }
}

TEST_P(CpuLevels, PartitionCodesAreTheStepwiseMortonCodes) {
  // partition() fuses centroids, bounds and codes per chunk; the codes must be those of the
  // three separate steps over the whole mesh (several chunks of 32 768 triangles here).
  const Flat f = flatten(datasets::makeBenchmarkScene(150000, 3));
  const size_t t = f.indices.size() / 3;
  ASSERT_GT(t, 100000u);
  std::vector<float> x(t), y(t), z(t);
  cpu::triangleCentroids(f.positions, f.indices, x, y, z);
  const core::Aabbf bounds = cpu::boundsOf(GetParam(), x, y, z);
  std::vector<uint32_t> codes(t);
  cpu::mortonCodes(GetParam(), x, y, z, bounds, codes);
  core::PartitionOutput out;
  ASSERT_TRUE(cpu::partition(GetParam(), {f.positions, f.indices, 5000}, out).isOk());
  for (size_t i = 0; i < t; ++i) ASSERT_EQ(out.codes[i], codes[out.order[i]]) << i;
}

TEST_P(CpuLevels, BvhLeavesPartitionEveryTriangleOnce) {
  for (uint32_t maxLeaf : {1u, 7u, 64u, 1000u}) {
    const auto scene = datasets::makeCity(60, 3, 5);
    const Flat f = flatten(scene);
    SCOPED_TRACE("maxLeaf=" + std::to_string(maxLeaf));
    core::PartitionOutput out;
    ASSERT_TRUE(cpu::partition(GetParam(), {f.positions, f.indices, maxLeaf}, out).isOk());
    const size_t t = f.indices.size() / 3;
    ASSERT_EQ(out.order.size(), t);
    std::vector<int> seen(t, 0);
    for (uint32_t id : out.order) ++seen[id];
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    EXPECT_TRUE(std::is_sorted(out.codes.begin(), out.codes.end()));
    // Leaves cover [0, t) without overlap; every leaf within the limit; boxes nest.
    std::vector<int> cover(t, 0);
    for (size_t i = 0; i < out.nodes.size(); ++i) {
      const auto& n = out.nodes[i];
      ASSERT_LT(n.begin, n.end);
      if (n.isLeaf()) {
        EXPECT_LE(n.count(), maxLeaf);
        for (uint32_t k = n.begin; k < n.end; ++k) {
          ++cover[k];
          const uint32_t tri = out.order[k];
          for (int c = 0; c < 3; ++c) {
            const float* p = &f.positions[3 * f.indices[3 * tri + uint32_t(c)]];
            core::Aabbf pb;
            pb.extend(p[0], p[1], p[2]);
            EXPECT_TRUE(n.bounds.contains(pb));
          }
        }
      } else {
        ASSERT_GT(size_t(n.left), i); // pre-order: children after their parent
        ASSERT_GT(size_t(n.right), i);
        const auto& l = out.nodes[size_t(n.left)];
        const auto& r = out.nodes[size_t(n.right)];
        EXPECT_EQ(l.begin, n.begin);
        EXPECT_EQ(l.end, r.begin);
        EXPECT_EQ(r.end, n.end);
        EXPECT_TRUE(n.bounds.contains(l.bounds));
        EXPECT_TRUE(n.bounds.contains(r.bounds));
      }
    }
    EXPECT_TRUE(std::all_of(cover.begin(), cover.end(), [](int c) { return c == 1; }));
  }
}

TEST_P(CpuLevels, PartitionRejectsBadInput) {
  std::vector<float> p{0, 0, 0, 1, 0, 0, 0, 1, 0};
  std::vector<uint32_t> bad{0, 1, 3};
  core::PartitionOutput out;
  EXPECT_EQ(cpu::partition(GetParam(), {p, bad, 4}, out).code(), core::ErrorCode::MalformedInput);
  std::vector<uint32_t> ok{0, 1, 2};
  EXPECT_EQ(cpu::partition(GetParam(), {p, ok, 0}, out).code(), core::ErrorCode::InvalidArgument);
  EXPECT_TRUE(cpu::partition(GetParam(), {{}, {}, 4}, out).isOk());
  EXPECT_TRUE(out.nodes.empty());
}

TEST_P(CpuLevels, ClusteringNeverAddsTrianglesAndKeepsClassesApart) {
  const auto scene = datasets::makeCity(40, 4, 3);
  const Flat f = flatten(scene);
  core::Aabbf b;
  for (size_t i = 0; i < f.positions.size(); i += 3) b.extend(f.positions[i], f.positions[i + 1], f.positions[i + 2]);
  for (float cell : {b.maxExtent() / 1000.0f, 2.0f, 10.0f, b.maxExtent()}) {
    SCOPED_TRACE("cell=" + std::to_string(cell));
    core::ClusterOutput out;
    ASSERT_TRUE(cpu::clusterVertices(GetParam(), {f.positions, f.classes, f.indices, b, cell}, out).isOk());
    EXPECT_LE(out.indices.size(), f.indices.size());
    EXPECT_LE(out.positions.size(), f.positions.size());
    const size_t cells = out.positions.size() / 3;
    ASSERT_EQ(out.classes.size(), cells);
    ASSERT_EQ(out.remap.size(), f.classes.size());
    uint32_t nextNew = 0;
    for (size_t v = 0; v < out.remap.size(); ++v) {
      ASSERT_LT(out.remap[v], cells);
      EXPECT_EQ(out.classes[out.remap[v]], f.classes[v]); // a cell never mixes classes
      if (out.remap[v] == nextNew)
        ++nextNew; // first-occurrence numbering
      else
        EXPECT_LT(out.remap[v], nextNew);
    }
    const float diag = cell * std::sqrt(3.0f);
    EXPECT_LE(out.maxDisplacement, diag * 1.0001f);
    for (size_t t = 0; t < out.indices.size(); t += 3) {
      EXPECT_NE(out.indices[t], out.indices[t + 1]);
      EXPECT_NE(out.indices[t + 1], out.indices[t + 2]);
      EXPECT_NE(out.indices[t], out.indices[t + 2]);
    }
  }
}

TEST_P(CpuLevels, ClusteringRejectsBadCellSizes) {
  std::vector<float> p{0, 0, 0, 100, 0, 0, 0, 100, 0};
  std::vector<uint32_t> c{0, 0, 0}, i{0, 1, 2};
  core::Aabbf b;
  b.extend(0, 0, 0);
  b.extend(100, 100, 0);
  core::ClusterOutput out;
  EXPECT_EQ(cpu::clusterVertices(GetParam(), {p, c, i, b, 0.0f}, out).code(), core::ErrorCode::InvalidArgument);
  EXPECT_EQ(cpu::clusterVertices(GetParam(), {p, c, i, b, 0.01f}, out).code(), core::ErrorCode::InvalidArgument);
  std::vector<uint32_t> shortClasses{0};
  EXPECT_EQ(cpu::clusterVertices(GetParam(), {p, shortClasses, i, b, 1.0f}, out).code(),
            core::ErrorCode::InvalidArgument);
  EXPECT_TRUE(cpu::clusterVertices(GetParam(), {{}, {}, {}, b, 1.0f}, out).isOk());
}

TEST_P(CpuLevels, QuantizationErrorIsAtMostHalfAStep) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1234.5f, 987.25f), n(-1, 1);
  for (size_t count : {1u, 5u, 4099u}) {
    SCOPED_TRACE("count=" + std::to_string(count) + " seed=3");
    std::vector<float> pos(3 * count), nrm(3 * count);
    core::Aabbf box;
    for (size_t i = 0; i < count; ++i) {
      for (int a = 0; a < 3; ++a) pos[3 * i + size_t(a)] = u(rng);
      box.extend(pos[3 * i], pos[3 * i + 1], pos[3 * i + 2]);
      float v[3] = {n(rng), n(rng), n(rng)};
      const float len = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) + 1e-6f;
      for (int a = 0; a < 3; ++a) nrm[3 * i + size_t(a)] = v[a] / len;
    }
    core::QuantizeOutput q;
    ASSERT_TRUE(cpu::quantize(GetParam(), {pos, nrm, box}, q).isOk());
    ASSERT_EQ(q.positions.size(), 4 * count);
    for (size_t i = 0; i < count; ++i)
      for (int a = 0; a < 3; ++a) {
        const double back = double(box.min[a]) + double(q.positions[4 * i + size_t(a)]) * double(q.scale[size_t(a)]);
        const double step = q.scale[size_t(a)];
        // Half a step, plus float rounding of the input coordinates themselves.
        EXPECT_LE(std::abs(back - pos[3 * i + size_t(a)]), 0.5 * step + 1e-4) << i << "," << a;
        EXPECT_LE(std::abs(q.normals[4 * i + size_t(a)] / 127.0 - nrm[3 * i + size_t(a)]), 0.5 / 127 + 1e-6);
      }
  }
}

TEST_P(CpuLevels, BackendMatchesFreeFunctions) {
  cpu::CpuBackend backend(GetParam());
  EXPECT_TRUE(backend.isAvailable());
  EXPECT_EQ(backend.name(), GetParam() == CpuLevel::Scalar ? "cpu-scalar" : "cpu-simd");
  EXPECT_FALSE(backend.deviceName().empty());
}

INSTANTIATE_TEST_SUITE_P(Levels, CpuLevels, ::testing::Values(CpuLevel::Scalar, CpuLevel::Simd), levelName);

TEST(CpuLevel, ParseAndEnvironmentOverride) {
  EXPECT_EQ(cpu::parseCpuLevel("scalar"), CpuLevel::Scalar);
  EXPECT_EQ(cpu::parseCpuLevel("simd"), CpuLevel::Simd);
  EXPECT_FALSE(cpu::parseCpuLevel("avx9").has_value());
  setenv("MESHEXPORT_CPU_LEVEL", "scalar", 1);
  EXPECT_EQ(cpu::defaultCpuLevel(), CpuLevel::Scalar);
  unsetenv("MESHEXPORT_CPU_LEVEL");
  EXPECT_EQ(cpu::defaultCpuLevel(), CpuLevel::Simd);
}
