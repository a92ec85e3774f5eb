// Every SIMD target compiled into the binary and supported by this CPU (Highway's AVX3, AVX2,
// SSE4, SSSE3, SCALAR...) gives exactly the scalar reference's answer. One test per target.
#include <mx/cpu/Algorithms.h>

#include <gtest/gtest.h>
#include <hwy/highway.h>
#include <hwy/targets.h>

#include <random>

using namespace mx;
using cpu::CpuLevel;

namespace {

class SimdTarget : public ::testing::TestWithParam<int64_t> {
protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

std::string targetName(const ::testing::TestParamInfo<int64_t>& info) { return hwy::TargetName(info.param); }

} // namespace

TEST_P(SimdTarget, KernelsMatchScalarReference) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-300, 700), n(-1, 1);
  for (size_t count : {1u, 7u, 33u, 1001u}) {
    SCOPED_TRACE("count=" + std::to_string(count) + " seed=42");
    std::vector<float> xyz(3 * count), x(count), y(count), z(count), nrm(3 * count);
    for (size_t i = 0; i < count; ++i) {
      x[i] = xyz[3 * i] = u(rng);
      y[i] = xyz[3 * i + 1] = u(rng);
      z[i] = xyz[3 * i + 2] = u(rng);
      for (int a = 0; a < 3; ++a) nrm[3 * i + size_t(a)] = n(rng);
    }
    const core::Aabbf b = cpu::boundsOf(CpuLevel::Scalar, x, y, z);
    EXPECT_EQ(cpu::boundsOf(CpuLevel::Simd, x, y, z), b);
    std::vector<uint32_t> ref(count), got(count);
    cpu::mortonCodes(CpuLevel::Scalar, x, y, z, b, ref);
    cpu::mortonCodes(CpuLevel::Simd, x, y, z, b, got);
    EXPECT_EQ(ref, got);
    const float cell = std::max(b.maxExtent() / 1000.0f, 0.5f);
    cpu::cellCodes(CpuLevel::Scalar, xyz, b, cell, ref);
    cpu::cellCodes(CpuLevel::Simd, xyz, b, cell, got);
    EXPECT_EQ(ref, got);
    core::QuantizeOutput qs, qv;
    ASSERT_TRUE(cpu::quantize(CpuLevel::Scalar, {xyz, nrm, b}, qs).isOk());
    ASSERT_TRUE(cpu::quantize(CpuLevel::Simd, {xyz, nrm, b}, qv).isOk());
    EXPECT_EQ(qs.positions, qv.positions);
    EXPECT_EQ(qs.normals, qv.normals);
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, SimdTarget, ::testing::ValuesIn(hwy::SupportedAndGeneratedTargets()), targetName);
