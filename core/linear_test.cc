#include "core/linear.h"

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

// C = alpha op(A) op(B) + beta C in double.
void NaiveGemm(bool ta, bool tb, float alpha, const TestMat& a, const TestMat& b, float beta,
               TestMat* c) {
  const int64_t k = ta ? a.rows() : a.cols();
  for (int64_t i = 0; i < c->rows(); ++i) {
    for (int64_t j = 0; j < c->cols(); ++j) {
      double s = 0.0;
      for (int64_t l = 0; l < k; ++l) {
        s += static_cast<double>(ta ? a.at(l, i) : a.at(i, l)) * (tb ? b.at(j, l) : b.at(l, j));
      }
      c->at(i, j) = static_cast<float>(alpha * s + (beta == 0.0f ? 0.0 : beta * c->at(i, j)));
    }
  }
}

TEST(GemmTest, MatchesNaiveForAllTransposesOnPaddedViews) {
  Rng rng(1);
  for (int trial = 0; trial < 16; ++trial) {
    const bool ta = trial & 1, tb = trial & 2;
    const int64_t m = 1 + rng.Below(9), n = 1 + rng.Below(9), k = rng.Below(12);
    TestMat a = ta ? RandomMat(k, m, rng.Below(4), &rng) : RandomMat(m, k, rng.Below(4), &rng);
    TestMat b = tb ? RandomMat(n, k, rng.Below(4), &rng) : RandomMat(k, n, rng.Below(4), &rng);
    TestMat c = RandomMat(m, n, 1 + rng.Below(3), &rng);
    TestMat want = c;
    const float alpha = trial < 8 ? 1.0f : -0.5f, beta = (trial % 3 == 0) ? 0.0f : 0.75f;
    Gemm(ta, tb, alpha, a.cview(), b.cview(), beta, c.view());
    NaiveGemm(ta, tb, alpha, a, b, beta, &want);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(c.at(i, j), want.at(i, j), 1e-5);
    }
    EXPECT_TRUE(c.PaddingIntact());
  }
}

TEST(LinearTest, ForwardMatchesNaiveWithAndWithoutBias) {
  Rng rng(2);
  TestMat x = RandomMat(7, 5, 3, &rng), w = RandomMat(5, 6, 2, &rng);
  TestMat b = RandomMat(1, 6, 0, &rng);
  for (bool with_bias : {false, true}) {
    TestMat y = RandomMat(7, 6, 4, &rng);  // garbage: forward writes
    LinearForward(x.cview(), w.cview(), with_bias ? b.data() : nullptr, y.view());
    for (int64_t i = 0; i < 7; ++i) {
      for (int64_t j = 0; j < 6; ++j) {
        double s = with_bias ? b.at(0, j) : 0.0;
        for (int64_t l = 0; l < 5; ++l) s += static_cast<double>(x.at(i, l)) * w.at(l, j);
        EXPECT_NEAR(y.at(i, j), s, 1e-5);
      }
    }
    EXPECT_TRUE(y.PaddingIntact());
  }
}

TEST(LinearTest, BackwardMatchesFiniteDifferences) {
  Rng rng(3);
  for (int trial = 0; trial < 6; ++trial) {
    const int64_t batch = 1 + rng.Below(8), in = 1 + rng.Below(9), out = 1 + rng.Below(9);
    TestMat x = RandomMat(batch, in, rng.Below(4), &rng);
    TestMat w = RandomMat(in, out, rng.Below(4), &rng);
    TestMat b = RandomMat(1, out, 0, &rng);
    TestMat dy = RandomMat(batch, out, rng.Below(4), &rng);
    TestMat y(batch, out, 2);
    auto loss = [&] {
      LinearForward(x.cview(), w.cview(), b.data(), y.view());
      return Dot(dy, y);
    };
    // Gradients accumulate into non-zero parameter gradients; dx is written.
    TestMat dw = RandomMat(in, out, 1, &rng), db = RandomMat(1, out, 0, &rng);
    const TestMat dw0 = dw, db0 = db;
    TestMat dx = RandomMat(batch, in, 3, &rng);
    LinearBackward(x.cview(), w.cview(), dy.cview(), dw.view(), db.data(), dx.view());
    for (int64_t i = 0; i < in; ++i) {
      for (int64_t j = 0; j < out; ++j) dw.at(i, j) -= dw0.at(i, j);
    }
    for (int64_t j = 0; j < out; ++j) db.at(0, j) -= db0.at(0, j);
    ExpectGradient("x", &x, dx, loss);
    ExpectGradient("W", &w, dw, loss);
    ExpectGradient("b", &b, db, loss);
    EXPECT_TRUE(dx.PaddingIntact() && dw.PaddingIntact());

    // dx_beta = 1 adds to dx; a null dx skips it.
    TestMat dx2 = dx;
    LinearBackward(x.cview(), w.cview(), dy.cview(), dw.view(), nullptr, dx2.view(), 1.0f);
    for (int64_t i = 0; i < batch; ++i) {
      for (int64_t j = 0; j < in; ++j) EXPECT_NEAR(dx2.at(i, j), 2 * dx.at(i, j), 1e-5);
    }
    LinearBackward(x.cview(), w.cview(), dy.cview(), dw.view(), nullptr, MatView{});
  }
}

TEST(BiasTest, ForwardAndBackwardMatchFiniteDifferences) {
  Rng rng(4);
  TestMat b = RandomMat(1, 11, 0, &rng), x = RandomMat(6, 11, 3, &rng);
  TestMat dy = RandomMat(6, 11, 1, &rng), y(6, 11, 2);
  auto loss = [&] {
    for (int64_t r = 0; r < 6; ++r) {
      for (int64_t c = 0; c < 11; ++c) y.at(r, c) = x.at(r, c);
    }
    BiasForward(b.data(), y.view());
    return Dot(dy, y);
  };
  TestMat db(1, 11, 0);
  db.Fill(0.5f);
  BiasBackward(dy.cview(), db.data());
  for (int64_t c = 0; c < 11; ++c) db.at(0, c) -= 0.5f;
  ExpectGradient("b", &b, db, loss);
  loss();
  EXPECT_TRUE(y.PaddingIntact());
}

TEST(BiasTest, BackwardIsTheSameForAnyThreadCount) {
  Rng rng(5);
  TestMat dy = RandomMat(700, 333, 5, &rng);
  std::vector<float> want(333, 0.25f);
  SetComputeThreads(1);
  BiasBackward(dy.cview(), want.data());
  for (int threads : {2, 3}) {
    SetComputeThreads(threads);
    std::vector<float> got(333, 0.25f);
    BiasBackward(dy.cview(), got.data());
    EXPECT_EQ(got, want) << threads << " threads";
  }
  SetComputeThreads(2);
  for (int64_t c = 0; c < 333; ++c) {
    double s = 0.25;
    for (int64_t r = 0; r < 700; ++r) s += dy.at(r, c);
    EXPECT_NEAR(want[c], s, 1e-3);
  }
}

TEST(MatTest, CopyAndAddOnPaddedViews) {
  Rng rng(6);
  TestMat src = RandomMat(300, 130, 3, &rng), dst = RandomMat(300, 130, 7, &rng);
  const TestMat before = dst;
  AddMat(src.cview(), dst.view());
  for (int64_t r = 0; r < 300; ++r) {
    for (int64_t c = 0; c < 130; ++c) {
      ASSERT_EQ(dst.at(r, c), before.at(r, c) + src.at(r, c));
    }
  }
  CopyMat(src.cview(), dst.view());
  EXPECT_TRUE(dst.SameBits(src));
  EXPECT_TRUE(dst.PaddingIntact());
}

TEST(MatTest, ScaleKeepsScalesAndZeroesEvenNan) {
  Rng rng(7);
  TestMat y = RandomMat(5, 9, 2, &rng);
  const TestMat before = y;
  ScaleMat(1.0f, y.view());
  EXPECT_TRUE(y.SameBits(before));
  ScaleMat(-0.5f, y.view());
  for (int64_t r = 0; r < 5; ++r) {
    for (int64_t c = 0; c < 9; ++c) ASSERT_EQ(y.at(r, c), -0.5f * before.at(r, c));
  }
  y.at(2, 3) = std::nanf("");
  ScaleMat(0.0f, y.view());
  for (int64_t r = 0; r < 5; ++r) {
    for (int64_t c = 0; c < 9; ++c) ASSERT_EQ(y.at(r, c), 0.0f);
  }
  EXPECT_TRUE(y.PaddingIntact());
}

}  // namespace
}  // namespace moerec
