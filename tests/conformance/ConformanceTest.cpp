// One suite, every compiled backend (cpu-scalar, cpu-simd, cuda when built with CUDA), each stage
// compared with the cpu-scalar reference by the rule declared beside it. A backend that cannot run
// here (no GPU) is skipped visibly with the reason.
#include <mx/cpu/CpuBackend.h>
#include <mx/datasets/Generators.h>
#include <mx/engine/BackendRegistry.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>

using namespace mx;

namespace {

// Tolerances, per stage:
// - partition: exact (order and nodes): Morton codes and the split rule are integer arithmetic,
//   ties broken by triangle id.
// - clustering: exact remap and triangles (cells numbered by first occurrence = canonical
//   relabelling); mean positions within kClusterMeanTolerance relative to the bounds (a GPU may
//   sum in another order).
// - quantization: exact.
constexpr float kClusterMeanTolerance = 1e-5f;

struct Case {
  std::string name;
  std::vector<float> positions;
  std::vector<uint32_t> classes;
  std::vector<uint32_t> indices;
};

Case fromScene(std::string name, const core::Scene& s) {
  datasets::FlatMesh f = datasets::flatten(s);
  return {std::move(name), std::move(f.positions), std::move(f.classes), std::move(f.indices)};
}

std::vector<Case> cases() {
  std::vector<Case> out;
  out.push_back(fromScene("terrain-97x97", datasets::makeTerrain(97)));
  out.push_back(fromScene("city-123-seed9", datasets::makeCity(123, 3, 9)));
  out.push_back(fromScene("soup-10007-seed4", datasets::makeSoup(10007, 4)));
  out.push_back({"empty", {}, {}, {}});
  out.push_back({"one-triangle", {0, 0, 0, 1, 0, 0, 0, 1, 0}, {0, 0, 0}, {0, 1, 2}});
  // Degenerate: repeated vertices, zero-area triangles, every centroid equal.
  out.push_back(
      {"degenerate", {1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2}, {0, 0, 0, 0}, {0, 1, 2, 0, 0, 0, 3, 3, 3, 0, 1, 3}});
  return out;
}

/// Every compiled backend, and where CUDA is compiled a second CUDA backend that cuts partition
/// and quantization into chunks of 4 099 items and stages copies through 6 000-byte slots, so the
/// chunked, multi-stream paths run on every input (sizes no multiple of a block or a chunk).
std::vector<std::string> backendsUnderTest() {
  std::vector<std::string> names = engine::compiledBackends();
  if (std::find(names.begin(), names.end(), "cuda") != names.end()) names.push_back("cuda-chunked");
  return names;
}

std::unique_ptr<core::IComputeBackend> makeBackend(const std::string& name) {
  if (name == "cuda-chunked") {
    engine::BackendOptions o;
    o.chunkItems = 4099;
    o.stagingBytes = 6000;
    return engine::createBackend("cuda", o);
  }
  return engine::createBackend(name);
}

class BackendConformance : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    backend = makeBackend(GetParam());
    ASSERT_NE(backend, nullptr);
    if (!backend->isAvailable()) GTEST_SKIP() << GetParam() << " unavailable: " << backend->unavailableReason();
  }
  cpu::CpuBackend reference{cpu::CpuLevel::Scalar};
  std::unique_ptr<core::IComputeBackend> backend;
};

std::string backendName(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

core::Aabbf boundsOf(const Case& c) {
  core::Aabbf b;
  for (size_t i = 0; i + 2 < c.positions.size(); i += 3)
    b.extend(c.positions[i], c.positions[i + 1], c.positions[i + 2]);
  return b;
}

} // namespace

TEST_P(BackendConformance, PartitionEqualsReference) {
  for (const Case& c : cases()) {
    for (uint32_t maxLeaf : {1u, 100u, 4096u}) {
      SCOPED_TRACE(c.name + " maxLeaf=" + std::to_string(maxLeaf));
      core::PartitionInput in{c.positions, c.indices, maxLeaf};
      core::PartitionOutput ref, got;
      ASSERT_TRUE(reference.partition(in, ref).isOk());
      if (!backend->supports(core::Stage::Partition, {c.positions.size() / 3, c.indices.size() / 3}))
        GTEST_SKIP() << GetParam() << " does not support partition";
      ASSERT_TRUE(backend->partition(in, got).isOk());
      EXPECT_EQ(ref.order, got.order);
      EXPECT_EQ(ref.codes, got.codes);
      ASSERT_EQ(ref.nodes.size(), got.nodes.size());
      for (size_t i = 0; i < ref.nodes.size(); ++i) {
        EXPECT_EQ(ref.nodes[i].begin, got.nodes[i].begin);
        EXPECT_EQ(ref.nodes[i].end, got.nodes[i].end);
        EXPECT_EQ(ref.nodes[i].left, got.nodes[i].left);
        EXPECT_EQ(ref.nodes[i].bounds, got.nodes[i].bounds);
      }
    }
  }
}

TEST_P(BackendConformance, PartitionOfMillionsOfTrianglesEqualsReference) {
  // Past the sizes where backends change strategy: cpu-simd sorts slices of >= 1 M keys on
  // separate threads and merges them; a GPU runs multi-block grids and multi-pass radix sorts.
  const Case c = fromScene("soup-2300000-seed5", datasets::makeSoup(2300000, 5));
  SCOPED_TRACE(c.name + " maxLeaf=30000");
  core::PartitionInput in{c.positions, c.indices, 30000};
  core::PartitionOutput ref, got;
  ASSERT_TRUE(reference.partition(in, ref).isOk());
  if (!backend->supports(core::Stage::Partition, {c.positions.size() / 3, c.indices.size() / 3}))
    GTEST_SKIP() << GetParam() << " does not support partition of this size";
  ASSERT_TRUE(backend->partition(in, got).isOk());
  EXPECT_TRUE(ref.order == got.order);
  EXPECT_TRUE(ref.codes == got.codes);
  ASSERT_EQ(ref.nodes.size(), got.nodes.size());
  for (size_t i = 0; i < ref.nodes.size(); ++i) {
    EXPECT_EQ(ref.nodes[i].begin, got.nodes[i].begin);
    EXPECT_EQ(ref.nodes[i].end, got.nodes[i].end);
    EXPECT_EQ(ref.nodes[i].bounds, got.nodes[i].bounds);
  }
}

TEST_P(BackendConformance, ClusteringEqualsReference) {
  for (const Case& c : cases()) {
    const core::Aabbf b = boundsOf(c);
    const float extent = std::max(b.maxExtent(), 1e-3f);
    for (float fraction : {1.0f / 1000, 1.0f / 64, 1.0f / 4, 1.0f}) {
      const float cell = extent * fraction;
      SCOPED_TRACE(c.name + " cell=" + std::to_string(cell));
      core::ClusterInput in{c.positions, c.classes, c.indices, b, cell};
      core::ClusterOutput ref, got;
      ASSERT_TRUE(reference.clusterVertices(in, ref).isOk());
      if (!backend->supports(core::Stage::Cluster, {c.positions.size() / 3, c.indices.size() / 3}))
        GTEST_SKIP() << GetParam() << " does not support clustering";
      ASSERT_TRUE(backend->clusterVertices(in, got).isOk());
      EXPECT_EQ(ref.remap, got.remap);
      EXPECT_EQ(ref.indices, got.indices);
      EXPECT_EQ(ref.classes, got.classes);
      ASSERT_EQ(ref.positions.size(), got.positions.size());
      for (size_t i = 0; i < ref.positions.size(); ++i)
        ASSERT_NEAR(ref.positions[i], got.positions[i], kClusterMeanTolerance * extent) << i;
      EXPECT_NEAR(ref.maxDisplacement, got.maxDisplacement, kClusterMeanTolerance * extent);
    }
  }
}

TEST_P(BackendConformance, QuantizationEqualsReference) {
  std::mt19937 rng(1234);
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name + " normals seed=1234");
    std::vector<float> normals(c.positions.size());
    std::normal_distribution<float> g;
    for (size_t i = 0; i + 2 < normals.size(); i += 3) {
      float v[3] = {g(rng), g(rng), g(rng)};
      const float len = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) + 1e-9f;
      for (int a = 0; a < 3; ++a) normals[i + size_t(a)] = v[a] / len;
    }
    core::QuantizeInput in{c.positions, normals, boundsOf(c)};
    core::QuantizeOutput ref, got;
    ASSERT_TRUE(reference.quantize(in, ref).isOk());
    if (!backend->supports(core::Stage::Quantize, {c.positions.size() / 3, c.indices.size() / 3}))
      GTEST_SKIP() << GetParam() << " does not support quantization";
    ASSERT_TRUE(backend->quantize(in, got).isOk());
    EXPECT_EQ(ref.positions, got.positions);
    EXPECT_EQ(ref.normals, got.normals);
    EXPECT_EQ(ref.scale, got.scale);
  }
}

TEST_P(BackendConformance, ConcurrentCallsEqualReference) {
  // The engine clusters and quantizes tiles from several threads at once; a backend must give
  // each call its own answer (the CUDA backend runs them on separate lanes and streams).
  std::vector<Case> inputs;
  for (int seed = 0; seed < 6; ++seed)
    inputs.push_back(fromScene("soup-" + std::to_string(3001 + 977 * seed) + "-seed" + std::to_string(seed),
                               datasets::makeSoup(uint32_t(3001 + 977 * seed), uint64_t(seed))));
  struct Expected {
    core::ClusterOutput cluster;
    core::QuantizeOutput quantized;
  };
  std::vector<Expected> expected(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Case& c = inputs[i];
    const core::Aabbf b = boundsOf(c);
    ASSERT_TRUE(
        reference.clusterVertices({c.positions, c.classes, c.indices, b, b.maxExtent() / 50}, expected[i].cluster)
            .isOk());
    ASSERT_TRUE(reference.quantize({c.positions, {}, b}, expected[i].quantized).isOk());
    if (!backend->supports(core::Stage::Cluster, {c.positions.size() / 3, c.indices.size() / 3}) ||
        !backend->supports(core::Stage::Quantize, {c.positions.size() / 3, c.indices.size() / 3}))
      GTEST_SKIP() << GetParam() << " does not support these inputs";
  }
  constexpr int kThreads = 8, kRounds = 5;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th)
    threads.emplace_back([&, th] {
      for (int round = 0; round < kRounds && failures[size_t(th)].empty(); ++round) {
        const size_t i = size_t(th + round) % inputs.size();
        const Case& c = inputs[i];
        const core::Aabbf b = boundsOf(c);
        core::ClusterOutput cl;
        core::QuantizeOutput q;
        core::Status s = backend->clusterVertices({c.positions, c.classes, c.indices, b, b.maxExtent() / 50}, cl);
        if (s) s = backend->quantize({c.positions, {}, b}, q);
        if (!s)
          failures[size_t(th)] = c.name + ": " + s.message();
        else if (cl.remap != expected[i].cluster.remap || cl.indices != expected[i].cluster.indices)
          failures[size_t(th)] = c.name + ": clustering differs from the reference";
        else if (q.positions != expected[i].quantized.positions)
          failures[size_t(th)] = c.name + ": quantization differs from the reference";
      }
    });
  for (auto& t : threads) t.join();
  for (int th = 0; th < kThreads; ++th) EXPECT_EQ(failures[size_t(th)], "") << "thread " << th;
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendConformance, ::testing::ValuesIn(backendsUnderTest()), backendName);
