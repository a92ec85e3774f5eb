// The CUDA backend's chunk plans: every item in exactly one chunk, within the lane budget, one
// chunk when everything fits, and no plan when not even the smallest useful chunk fits.
#include <mx/cuda/ChunkPlan.h>

#include <gtest/gtest.h>

#include <random>
#include <string>

using namespace mx::cuda;

namespace {

constexpr uint64_t kMiB = uint64_t(1) << 20, kGiB = uint64_t(1) << 30;

void expectCovers(const ChunkPlan& plan, size_t total) {
  ASSERT_GT(plan.chunk, 0u);
  ASSERT_GE(plan.chunks * plan.chunk, total);
  ASSERT_LT((plan.chunks - 1) * plan.chunk, total);
  size_t sum = 0;
  for (size_t k = 0; k < plan.chunks; ++k) {
    EXPECT_EQ(plan.begin(k), sum);
    EXPECT_GT(plan.size(k, total), 0u);
    sum += plan.size(k, total);
  }
  EXPECT_EQ(sum, total);
}

} // namespace

TEST(ChunkPlan, PartitionFitsInOneChunkWhenTheBudgetAllows) {
  const ChunkPlan p = planPartition(25'000'000, 50'000'000, 27 * kGiB, 0);
  EXPECT_EQ(p.chunks, 1u);
  EXPECT_EQ(p.chunk, 50'000'000u);
  EXPECT_LE(partitionBytes(25'000'000, p), 27 * kGiB);
}

TEST(ChunkPlan, PartitionIsChunkedToFitAndCoversEveryTriangle) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    const size_t t = 1 + rng() % 200'000'000, v = 1 + rng() % (t + 2);
    const uint64_t budget = (64 + rng() % 8192) * kMiB;
    const size_t cap = (i % 3 == 0) ? 1 + rng() % 100'000 : 0;
    SCOPED_TRACE("t=" + std::to_string(t) + " v=" + std::to_string(v) + " budget=" + std::to_string(budget) +
                 " cap=" + std::to_string(cap) + " seed=7");
    const ChunkPlan p = planPartition(v, t, budget, cap);
    if (p.chunk == 0) {
      // Only when the positions alone, or the smallest useful chunk, do not fit.
      EXPECT_TRUE(12 * uint64_t(v) + 64 * kMiB >= budget ||
                  (cap == 0 && (budget - 12 * uint64_t(v) - 64 * kMiB) / 128 < std::min<size_t>(t, 65536)));
      continue;
    }
    expectCovers(p, t);
    EXPECT_LE(partitionBytes(v, p), budget);
    if (cap) {
      EXPECT_LE(p.chunk, cap);
    }
    if (p.chunks > 1 && cap == 0) {
      EXPECT_GE(p.chunk, 65536u);
    }
  }
}

TEST(ChunkPlan, QuantizeOverlapsLargeInputsAndFitsTheBudget) {
  EXPECT_EQ(planQuantize(1000, kGiB, 0).chunks, 1u);
  const ChunkPlan big = planQuantize(40'000'000, 27 * kGiB, 0);
  EXPECT_EQ(big.chunks, 4u); // copies of one chunk overlap the kernel of another
  expectCovers(big, 40'000'000);
  const ChunkPlan tight = planQuantize(40'000'000, 256 * kMiB, 0);
  expectCovers(tight, 40'000'000);
  EXPECT_LE(quantizeBytes(tight), 256 * kMiB);
  EXPECT_GT(tight.chunks, 4u);
  const ChunkPlan capped = planQuantize(10'007, kGiB, 4099);
  EXPECT_EQ(capped.chunk, 4099u);
  expectCovers(capped, 10'007);
  EXPECT_EQ(planQuantize(10'000'000, 8 * kMiB, 0).chunk, 0u); // below the fixed reserve
  EXPECT_EQ(planQuantize(0, kGiB, 0).chunks, 0u);
}

TEST(ChunkPlan, EmptyInputsNeedNoChunkAndClusteringIsSizedWhole) {
  EXPECT_EQ(planPartition(0, 0, kGiB, 0).chunks, 0u);
  EXPECT_GT(planPartition(0, 0, kGiB, 0).chunk, 0u);         // supported: nothing to do
  EXPECT_EQ(planPartition(100, 10, 32 * kMiB, 0).chunk, 0u); // under the fixed reserve
  EXPECT_GT(clusterBytes(1'000'000, 2'000'000), 180u * 1'000'000);
}
