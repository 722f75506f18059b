#include "core/activation.h"

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

// Random values kept at least `gap` away from 0, where ReLU and PReLU have their kink.
TestMat AwayFromZero(int64_t rows, int64_t cols, int64_t pad, Rng* rng, float gap = 0.05f) {
  TestMat m = RandomMat(rows, cols, pad, rng);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float& v = m.at(r, c);
      v = v >= 0.0f ? v + gap : v - gap;
    }
  }
  return m;
}

struct Shape {
  int64_t rows, cols, pad_x, pad_y;
};

Shape RandomShape(Rng* rng) {
  return Shape{1 + static_cast<int64_t>(rng->Below(8)), 1 + static_cast<int64_t>(rng->Below(20)),
               static_cast<int64_t>(rng->Below(4)), static_cast<int64_t>(rng->Below(4))};
}

TEST(ReluTest, MatchesFiniteDifferences) {
  Rng rng(1);
  for (int trial = 0; trial < 5; ++trial) {
    const Shape s = RandomShape(&rng);
    TestMat x = AwayFromZero(s.rows, s.cols, s.pad_x, &rng), y(s.rows, s.cols, s.pad_y);
    TestMat dy = RandomMat(s.rows, s.cols, 1, &rng), dx(s.rows, s.cols, 2);
    auto loss = [&] {
      ReluForward(x.cview(), y.view());
      return Dot(dy, y);
    };
    loss();
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t c = 0; c < s.cols; ++c) EXPECT_EQ(y.at(r, c), std::max(x.at(r, c), 0.0f));
    }
    ReluBackward(y.cview(), dy.cview(), dx.view());
    ExpectGradient("relu x", &x, dx, loss);
    loss();  // y from the unperturbed x
    EXPECT_TRUE(y.PaddingIntact() && dx.PaddingIntact());
    // In place: y aliases x, dx aliases dy.
    TestMat inplace = x, g = dy;
    ReluForward(inplace.cview(), inplace.view());
    ReluBackward(inplace.cview(), g.cview(), g.view());
    EXPECT_TRUE(inplace.SameBits(y));
    EXPECT_TRUE(g.SameBits(dx));
  }
}

TEST(PreluTest, MatchesFiniteDifferencesForInputAndSlope) {
  Rng rng(2);
  for (int trial = 0; trial < 5; ++trial) {
    const Shape s = RandomShape(&rng);
    TestMat x = AwayFromZero(s.rows, s.cols, s.pad_x, &rng), y(s.rows, s.cols, s.pad_y);
    TestMat alpha = RandomMat(1, s.cols, 0, &rng, 0.0f, 0.5f);
    TestMat dy = RandomMat(s.rows, s.cols, 1, &rng), dx(s.rows, s.cols, 3);
    auto loss = [&] {
      PreluForward(x.cview(), alpha.data(), y.view());
      return Dot(dy, y);
    };
    TestMat dalpha(1, s.cols, 0);
    dalpha.Fill(1.0f);  // accumulates
    PreluBackward(x.cview(), alpha.data(), dy.cview(), dx.view(), dalpha.data());
    for (int64_t c = 0; c < s.cols; ++c) dalpha.at(0, c) -= 1.0f;
    ExpectGradient("prelu x", &x, dx, loss);
    ExpectGradient("prelu alpha", &alpha, dalpha, loss);
    EXPECT_TRUE(dx.PaddingIntact());
  }
}

TEST(SigmoidTest, MatchesFiniteDifferencesAndSaturatesCleanly) {
  Rng rng(3);
  for (int trial = 0; trial < 5; ++trial) {
    const Shape s = RandomShape(&rng);
    TestMat x = RandomMat(s.rows, s.cols, s.pad_x, &rng, -4.0f, 4.0f), y(s.rows, s.cols, 1);
    TestMat dy = RandomMat(s.rows, s.cols, 2, &rng), dx(s.rows, s.cols, s.pad_y);
    auto loss = [&] {
      SigmoidForward(x.cview(), y.view());
      return Dot(dy, y);
    };
    loss();
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t c = 0; c < s.cols; ++c) {
        EXPECT_NEAR(y.at(r, c), 1.0 / (1.0 + std::exp(-static_cast<double>(x.at(r, c)))), 1e-6);
      }
    }
    SigmoidBackward(y.cview(), dy.cview(), dx.view());
    ExpectGradient("sigmoid x", &x, dx, loss);
  }
  TestMat big(1, 4, 0), out(1, 4, 0);
  big.at(0, 0) = 200.0f;
  big.at(0, 1) = -200.0f;
  big.at(0, 2) = 1000.0f;
  big.at(0, 3) = -1000.0f;
  SigmoidForward(big.cview(), out.view());
  EXPECT_EQ(out.at(0, 0), 1.0f);
  EXPECT_EQ(out.at(0, 1), 0.0f);
  EXPECT_EQ(out.at(0, 2), 1.0f);
  EXPECT_EQ(out.at(0, 3), 0.0f);
}

TEST(DropoutTest, BackwardMatchesFiniteDifferences) {
  Rng rng(4);
  const Shape s = RandomShape(&rng);
  TestMat x = RandomMat(s.rows, s.cols + 5, s.pad_x, &rng), y(s.rows, s.cols + 5, s.pad_y);
  TestMat mask(s.rows, s.cols + 5, 1), dy = RandomMat(s.rows, s.cols + 5, 2, &rng);
  auto loss = [&] {
    DropoutForward(x.cview(), 0.3f, 77, mask.view(), y.view());
    return Dot(dy, y);
  };
  loss();
  TestMat dx(s.rows, s.cols + 5, 1);
  DropoutBackward(mask.cview(), dy.cview(), dx.view());
  ExpectGradient("dropout x", &x, dx, loss);
  EXPECT_TRUE(mask.PaddingIntact() && y.PaddingIntact() && dx.PaddingIntact());
}

TEST(DropoutTest, MaskHasTheRightRateAndScale) {
  Rng rng(5);
  for (float p : {0.0f, 0.1f, 0.5f, 0.9f}) {
    const int64_t rows = 200, cols = 500;
    TestMat x = RandomMat(rows, cols, 3, &rng), y(rows, cols, 0), mask(rows, cols, 0);
    DropoutForward(x.cview(), p, 1234, mask.view(), y.view());
    int64_t kept = 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const float m = mask.at(r, c);
        ASSERT_TRUE(m == 0.0f || m == 1.0f / (1.0f - p)) << m;
        ASSERT_EQ(y.at(r, c), x.at(r, c) * m);
        kept += m != 0.0f;
      }
    }
    // Binomial(1e5, 1 - p): 5 standard deviations.
    const double n = rows * cols, sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(static_cast<double>(kept), n * (1 - p), 5 * sd + 1) << "p = " << p;
    // Neighbours are independent: along a row (two halves of one hash) and down a column.
    int64_t both_right = 0, both_down = 0;
    for (int64_t r = 0; r + 1 < rows; ++r) {
      for (int64_t c = 0; c + 1 < cols; ++c) {
        both_right += mask.at(r, c) != 0.0f && mask.at(r, c + 1) != 0.0f;
        both_down += mask.at(r, c) != 0.0f && mask.at(r + 1, c) != 0.0f;
      }
    }
    const double pairs = (rows - 1) * (cols - 1), q = (1 - p) * (1 - p);
    const double pair_sd = std::sqrt(pairs * q * (1 - q));
    EXPECT_NEAR(static_cast<double>(both_right), pairs * q, 5 * pair_sd + 1) << "p = " << p;
    EXPECT_NEAR(static_cast<double>(both_down), pairs * q, 5 * pair_sd + 1) << "p = " << p;
  }
}

TEST(DropoutTest, MaskDependsOnSeedOnlyNotOnThreadsOrViews) {
  Rng rng(6);
  const int64_t rows = 300, cols = 257;
  TestMat x = RandomMat(rows, cols, 0, &rng), y(rows, cols, 0);
  TestMat m1(rows, cols, 0), m2(rows, cols, 5), m3(rows, cols, 0);
  SetComputeThreads(1);
  DropoutForward(x.cview(), 0.4f, 99, m1.view(), y.view());
  SetComputeThreads(2);
  DropoutForward(x.cview(), 0.4f, 99, m2.view(), y.view());
  EXPECT_TRUE(m1.SameBits(m2));
  DropoutForward(x.cview(), 0.4f, 100, m3.view(), y.view());
  EXPECT_FALSE(m1.SameBits(m3));
  // y may alias x.
  TestMat inplace = x;
  DropoutForward(inplace.cview(), 0.4f, 99, m3.view(), inplace.view());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(inplace.at(r, c), x.at(r, c) * m1.at(r, c));
  }
}

TEST(PreluTest, BackwardIsTheSameForAnyThreadCount) {
  Rng rng(7);
  TestMat x = RandomMat(600, 200, 3, &rng), dy = RandomMat(600, 200, 1, &rng);
  TestMat alpha = RandomMat(1, 200, 0, &rng);
  TestMat dx1(600, 200, 0), dx2(600, 200, 0);
  std::vector<float> da1(200, 0.0f), da2(200, 0.0f);
  SetComputeThreads(1);
  PreluBackward(x.cview(), alpha.data(), dy.cview(), dx1.view(), da1.data());
  SetComputeThreads(2);
  PreluBackward(x.cview(), alpha.data(), dy.cview(), dx2.view(), da2.data());
  EXPECT_EQ(da1, da2);
  EXPECT_TRUE(dx1.SameBits(dx2));
}

}  // namespace
}  // namespace moerec
