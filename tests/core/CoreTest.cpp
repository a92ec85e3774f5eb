#include <mx/core/IComputeBackend.h>
#include <mx/core/Math.h>
#include <mx/core/Result.h>

#include <gtest/gtest.h>

using namespace mx::core;

namespace {
Result<int> half(int v) {
  if (v % 2) return Status{ErrorCode::InvalidArgument, "odd"};
  return v / 2;
}
Result<int> quarter(int v) {
  MX_ASSIGN_OR_RETURN(int h, half(v));
  return half(h);
}
Status checkEven(int v) {
  MX_RETURN_IF_ERROR(half(v).status());
  return Status::ok();
}
} // namespace

TEST(Status, OkAndErrorsCarryCodeAndContext) {
  EXPECT_TRUE(Status::ok().isOk());
  Status s{ErrorCode::MalformedInput, "index 7 out of range"};
  EXPECT_FALSE(s.isOk());
  s.withContext("mesh 2");
  EXPECT_EQ(s.message(), "mesh 2: index 7 out of range");
  EXPECT_EQ(s.toString(), "malformed-input: mesh 2: index 7 out of range");
  EXPECT_EQ(toString(ErrorCode::ValidationFailed), "validation-failed");
}

TEST(Result, PropagatesValuesAndErrors) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), ErrorCode::InvalidArgument);
  EXPECT_TRUE(checkEven(4).isOk());
  EXPECT_FALSE(checkEven(3).isOk());
  Result<int> w = 3;
  w.warnings().push_back("w");
  EXPECT_EQ(w.warnings().size(), 1u);
}

TEST(Aabb, ExtendContainsAndEmpty) {
  Aabb b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.diagonal(), 0.0);
  b.extend(0, 0, 0);
  b.extend(3, 4, 0);
  EXPECT_DOUBLE_EQ(b.diagonal(), 5.0);
  Aabb inner;
  inner.extend(1, 1, 0);
  EXPECT_TRUE(b.contains(inner));
  inner.extend(3.5, 1, 0);
  EXPECT_FALSE(b.contains(inner));
  EXPECT_TRUE(b.contains(inner, 0.5));
}

TEST(Matrix, ColumnMajorMultiplyAndTransform) {
  Mat4d t = identityMatrix();
  t[12] = 10; // translate x
  Mat4d s = identityMatrix();
  s[0] = 2; // scale x
  const Vec3d p = transformPoint(multiply(t, s), {1, 1, 1});
  EXPECT_EQ(p, (Vec3d{12, 1, 1})); // scale first, then translate
}

TEST(Quantization, ScaleOfFlatAxisIsOne) {
  Aabbf b;
  b.extend(0, 0, 5);
  b.extend(65535, 2, 5);
  EXPECT_FLOAT_EQ(quantizationScale(b, 0), 1.0f);
  EXPECT_FLOAT_EQ(quantizationScale(b, 1), 2.0f / 65535.0f);
  EXPECT_FLOAT_EQ(quantizationScale(b, 2), 1.0f);
}
