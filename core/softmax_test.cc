#include "core/softmax.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/internal/test_util.h"
#include "core/parallel.h"

namespace moerec {
namespace {

using testing::Dot;
using testing::ExpectGradient;
using testing::RandomMat;
using testing::TestMat;

TEST(SoftmaxTest, ForwardMatchesDirectFormulaAndIsStableForLargeLogits) {
  Rng rng(1);
  for (float scale : {1.0f, 50.0f, 2000.0f}) {
    TestMat x = RandomMat(6, 9, 2, &rng, -scale, scale), y(6, 9, 3);
    SoftmaxForward(x.cview(), y.view());
    for (int64_t r = 0; r < 6; ++r) {
      double mx = -1e300, z = 0.0, total = 0.0;
      for (int64_t k = 0; k < 9; ++k) mx = std::max(mx, static_cast<double>(x.at(r, k)));
      for (int64_t k = 0; k < 9; ++k) z += std::exp(x.at(r, k) - mx);
      for (int64_t k = 0; k < 9; ++k) {
        ASSERT_TRUE(std::isfinite(y.at(r, k)));
        EXPECT_NEAR(y.at(r, k), std::exp(x.at(r, k) - mx) / z, 1e-6);
        total += y.at(r, k);
      }
      EXPECT_NEAR(total, 1.0, 1e-5);
    }
    EXPECT_TRUE(y.PaddingIntact());
  }
}

TEST(SoftmaxTest, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  for (int trial = 0; trial < 6; ++trial) {
    const int64_t rows = 1 + rng.Below(7), cols = 1 + rng.Below(12);
    TestMat x = RandomMat(rows, cols, rng.Below(4), &rng, -3.0f, 3.0f), y(rows, cols, 1);
    TestMat dy = RandomMat(rows, cols, rng.Below(3), &rng), dx(rows, cols, 2);
    auto loss = [&] {
      SoftmaxForward(x.cview(), y.view());
      return Dot(dy, y);
    };
    loss();
    SoftmaxBackward(y.cview(), dy.cview(), dx.view());
    ExpectGradient("softmax x", &x, dx, loss);
    loss();  // y from the unperturbed x
    EXPECT_TRUE(dx.PaddingIntact());
    // dx may alias dy; y may alias x.
    TestMat g = dy, inplace = x;
    SoftmaxBackward(y.cview(), g.cview(), g.view());
    EXPECT_TRUE(g.SameBits(dx));
    SoftmaxForward(inplace.cview(), inplace.view());
    EXPECT_TRUE(inplace.SameBits(y));
  }
}

TEST(SoftmaxTest, IsTheSameForAnyThreadCount) {
  Rng rng(3);
  TestMat x = RandomMat(4000, 40, 1, &rng), dy = RandomMat(4000, 40, 0, &rng);
  TestMat y[2] = {TestMat(4000, 40, 0), TestMat(4000, 40, 0)};
  TestMat dx[2] = {TestMat(4000, 40, 0), TestMat(4000, 40, 0)};
  for (int t = 0; t < 2; ++t) {
    SetComputeThreads(t + 1);
    SoftmaxForward(x.cview(), y[t].view());
    SoftmaxBackward(y[t].cview(), dy.cview(), dx[t].view());
  }
  SetComputeThreads(2);
  EXPECT_TRUE(y[0].SameBits(y[1]));
  EXPECT_TRUE(dx[0].SameBits(dx[1]));
}

}  // namespace
}  // namespace moerec
