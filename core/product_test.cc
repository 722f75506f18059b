#include "core/product.h"

#include <gtest/gtest.h>

#include "core/internal/test_util.h"
#include "core/parallel.h"

namespace moerec {
namespace {

using testing::RandomMat;
using testing::TestMat;

TEST(ProductTest, ForwardAndFiniteDifferenceGradients) {
  Rng rng(3);
  const int64_t n = 37;
  TestMat a = RandomMat(1, n, 0, &rng), b = RandomMat(1, n, 0, &rng);
  TestMat dy = RandomMat(1, n, 0, &rng);
  TestMat y(1, n, 0);
  ProductForward(a.data(), b.data(), n, y.data());
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y.at(0, i), a.at(0, i) * b.at(0, i));
  auto loss = [&] {
    ProductForward(a.data(), b.data(), n, y.data());
    return testing::Dot(y, dy);
  };
  TestMat da(1, n, 0), db(1, n, 0);
  da.Fill(0.5f);  // accumulates
  db.Fill(0.0f);
  ProductBackward(a.data(), b.data(), dy.data(), n, da.data(), db.data());
  for (int64_t i = 0; i < n; ++i) da.at(0, i) -= 0.5f;
  testing::ExpectGradient("product a", &a, da, loss);
  testing::ExpectGradient("product b", &b, db, loss);
  // A null gradient is skipped.
  ProductBackward(a.data(), b.data(), dy.data(), n, nullptr, db.data());
}

TEST(ProductTest, SameBitsForAnyThreadCount) {
  Rng rng(4);
  const int64_t n = 100000;
  TestMat a = RandomMat(1, n, 0, &rng), b = RandomMat(1, n, 0, &rng), dy = RandomMat(1, n, 0, &rng);
  TestMat y1(1, n, 0), y4(1, n, 0), da1(1, n, 0), da4(1, n, 0);
  SetComputeThreads(1);
  ProductForward(a.data(), b.data(), n, y1.data());
  ProductBackward(a.data(), b.data(), dy.data(), n, da1.data(), nullptr);
  SetComputeThreads(4);
  ProductForward(a.data(), b.data(), n, y4.data());
  ProductBackward(a.data(), b.data(), dy.data(), n, da4.data(), nullptr);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(y1.at(0, i), y4.at(0, i));
    ASSERT_EQ(da1.at(0, i), da4.at(0, i));
  }
}

}  // namespace
}  // namespace moerec
