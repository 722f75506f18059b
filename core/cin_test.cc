#include "core/cin.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/internal/test_util.h"
#include "core/parallel.h"

namespace moerec {
namespace {

using testing::Dot;
using testing::ExpectAddsWithBetaOne;
using testing::ExpectGradient;
using testing::RandomMat;
using testing::TestMat;

struct Sizes {
  int64_t rows, s, hp, h, k;
};

// Xnext of the definition, in double.
std::vector<double> DirectForward(const Sizes& z, const TestMat& x0, const TestMat& xprev,
                                  const TestMat& w) {
  std::vector<double> y(z.rows * z.h * z.k, 0.0);
  for (int64_t b = 0; b < z.rows; ++b) {
    for (int64_t h = 0; h < z.h; ++h) {
      for (int64_t i = 0; i < z.hp; ++i) {
        for (int64_t j = 0; j < z.s; ++j) {
          for (int64_t c = 0; c < z.k; ++c) {
            y[(b * z.h + h) * z.k + c] += static_cast<double>(w.at(h, i * z.s + j)) *
                                          xprev.at(b, i * z.k + c) * x0.at(b, j * z.k + c);
          }
        }
      }
    }
  }
  return y;
}

TEST(CinLayerTest, ForwardMatchesDefinitionAcrossChunks) {
  Rng rng(1);
  // k = 3: 85 rows per chunk, so 90 rows make two chunks, the second partial.
  for (const Sizes z : {Sizes{4, 3, 2, 5, 7}, Sizes{90, 4, 3, 2, 3}, Sizes{1, 1, 1, 1, 1}}) {
    TestMat x0 = RandomMat(z.rows, z.s * z.k, 2, &rng);
    TestMat xprev = RandomMat(z.rows, z.hp * z.k, 1, &rng);
    TestMat w = RandomMat(z.h, z.hp * z.s, 3, &rng), y = RandomMat(z.rows, z.h * z.k, 2, &rng);
    CinLayerForward(x0.cview(), xprev.cview(), z.s, w.cview(), y.view());
    const std::vector<double> want = DirectForward(z, x0, xprev, w);
    for (int64_t b = 0; b < z.rows; ++b) {
      for (int64_t c = 0; c < z.h * z.k; ++c)
        EXPECT_NEAR(y.at(b, c), want[b * z.h * z.k + c], 1e-5);
    }
    EXPECT_TRUE(y.PaddingIntact());
  }
}

TEST(CinLayerTest, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  for (int trial = 0; trial < 5; ++trial) {
    const Sizes z{1 + static_cast<int64_t>(rng.Below(4)), 1 + static_cast<int64_t>(rng.Below(4)),
                  1 + static_cast<int64_t>(rng.Below(3)), 1 + static_cast<int64_t>(rng.Below(4)),
                  1 + static_cast<int64_t>(rng.Below(6))};
    TestMat x0 = RandomMat(z.rows, z.s * z.k, rng.Below(3), &rng);
    TestMat xprev = RandomMat(z.rows, z.hp * z.k, rng.Below(3), &rng);
    TestMat w = RandomMat(z.h, z.hp * z.s, rng.Below(3), &rng);
    TestMat dy = RandomMat(z.rows, z.h * z.k, 1, &rng), y(z.rows, z.h * z.k, 1);
    auto loss = [&] {
      CinLayerForward(x0.cview(), xprev.cview(), z.s, w.cview(), y.view());
      return Dot(dy, y);
    };
    TestMat dx0 = RandomMat(z.rows, z.s * z.k, 2, &rng);
    TestMat dxprev = RandomMat(z.rows, z.hp * z.k, 1, &rng), dw(z.h, z.hp * z.s, 2);
    CinLayerBackward(x0.cview(), xprev.cview(), z.s, w.cview(), dy.cview(), dx0.view(), 0.0f,
                     dxprev.view(), dw.view());
    ExpectGradient("cin x0", &x0, dx0, loss);
    ExpectGradient("cin xprev", &xprev, dxprev, loss);
    ExpectGradient("cin w", &w, dw, loss);
    EXPECT_TRUE(dx0.PaddingIntact() && dxprev.PaddingIntact() && dw.PaddingIntact());
    TestMat dxprev2(z.rows, z.hp * z.k, 0), dw2(z.h, z.hp * z.s, 0);
    ExpectAddsWithBetaOne(
        "cin dx0", dx0,
        [&](MatView d, float beta) {
          CinLayerBackward(x0.cview(), xprev.cview(), z.s, w.cview(), dy.cview(), d, beta,
                           dxprev2.view(), dw2.view());
        },
        &rng);
    EXPECT_TRUE(dxprev2.SameBits(dxprev));
    EXPECT_TRUE(dw2.SameBits(dw));  // dw2 started at 0 and accumulated once
  }
}

// Over several chunks, the weight gradient sums every row: compare with the definition.
TEST(CinLayerTest, WeightGradientSumsAllChunks) {
  Rng rng(3);
  const Sizes z{200, 3, 2, 4, 5};  // 51 rows per chunk: four chunks
  TestMat x0 = RandomMat(z.rows, z.s * z.k, 1, &rng),
          xprev = RandomMat(z.rows, z.hp * z.k, 0, &rng);
  TestMat w = RandomMat(z.h, z.hp * z.s, 0, &rng), dy = RandomMat(z.rows, z.h * z.k, 2, &rng);
  TestMat dx0(z.rows, z.s * z.k, 0), dxprev(z.rows, z.hp * z.k, 0), dw(z.h, z.hp * z.s, 1);
  CinLayerBackward(x0.cview(), xprev.cview(), z.s, w.cview(), dy.cview(), dx0.view(), 0.0f,
                   dxprev.view(), dw.view());
  for (int64_t h = 0; h < z.h; ++h) {
    for (int64_t i = 0; i < z.hp; ++i) {
      for (int64_t j = 0; j < z.s; ++j) {
        double want = 0.0;
        for (int64_t b = 0; b < z.rows; ++b) {
          for (int64_t c = 0; c < z.k; ++c) {
            want += static_cast<double>(dy.at(b, h * z.k + c)) * xprev.at(b, i * z.k + c) *
                    x0.at(b, j * z.k + c);
          }
        }
        EXPECT_NEAR(dw.at(h, i * z.s + j), want, 1e-3);
      }
    }
  }
  EXPECT_TRUE(dw.PaddingIntact());
}

// The first layer: Xprev is X0 itself, and X0's gradient is dx0 + dxprev.
TEST(CinLayerTest, FirstLayerWithXprevEqualToX0) {
  Rng rng(4);
  const int64_t rows = 3, s = 3, h = 2, k = 4;
  TestMat x0 = RandomMat(rows, s * k, 1, &rng), w = RandomMat(h, s * s, 0, &rng);
  TestMat dy = RandomMat(rows, h * k, 0, &rng), y(rows, h * k, 0);
  auto loss = [&] {
    CinLayerForward(x0.cview(), x0.cview(), s, w.cview(), y.view());
    return Dot(dy, y);
  };
  TestMat dx0(rows, s * k, 0), dxprev(rows, s * k, 0), dw(h, s * s, 0);
  CinLayerBackward(x0.cview(), x0.cview(), s, w.cview(), dy.cview(), dx0.view(), 0.0f,
                   dxprev.view(), dw.view());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < s * k; ++c) dx0.at(r, c) += dxprev.at(r, c);
  }
  ExpectGradient("cin first layer x0", &x0, dx0, loss);
  ExpectGradient("cin first layer w", &w, dw, loss);
}

TEST(CinLayerTest, EmptyBatchLeavesWeightGradientAlone) {
  Rng rng(5);
  const int64_t s = 3, hp = 2, h = 3, k = 5;
  TestMat x0(0, s * k, 1), xprev(0, hp * k, 1), y(0, h * k, 1), dy(0, h * k, 1);
  TestMat w = RandomMat(h, hp * s, 0, &rng), dw = RandomMat(h, hp * s, 0, &rng);
  const TestMat dw_before = dw;
  CinLayerForward(x0.cview(), xprev.cview(), s, w.cview(), y.view());
  TestMat dx0(0, s * k, 1), dxprev(0, hp * k, 1);
  CinLayerBackward(x0.cview(), xprev.cview(), s, w.cview(), dy.cview(), dx0.view(), 1.0f,
                   dxprev.view(), dw.view());
  EXPECT_TRUE(dw.SameBits(dw_before));
  TestMat pooled(0, h, 1);
  FieldSumPoolForward(y.cview(), pooled.view());
  FieldSumPoolBackward(pooled.cview(), y.view());
}

TEST(FieldSumPoolTest, ForwardSumsEachFieldAndBackwardMatchesFiniteDifferences) {
  Rng rng(6);
  for (const int64_t rows : {1, 5}) {
    const int64_t h = 3, k = 7;
    TestMat x = RandomMat(rows, h * k, 2, &rng), y = RandomMat(rows, h, 1, &rng);
    FieldSumPoolForward(x.cview(), y.view());
    for (int64_t b = 0; b < rows; ++b) {
      for (int64_t f = 0; f < h; ++f) {
        double want = 0.0;
        for (int64_t c = 0; c < k; ++c) want += x.at(b, f * k + c);
        EXPECT_NEAR(y.at(b, f), want, 1e-5);
      }
    }
    TestMat dy = RandomMat(rows, h, 1, &rng), dx = RandomMat(rows, h * k, 1, &rng);
    FieldSumPoolBackward(dy.cview(), dx.view());
    ExpectGradient("sum pool x", &x, dx, [&] {
      FieldSumPoolForward(x.cview(), y.view());
      return Dot(dy, y);
    });
    EXPECT_TRUE(y.PaddingIntact() && dx.PaddingIntact());
  }
}

TEST(CinLayerTest, SameBitsRunToRunAndCloseAcrossThreadCounts) {
  Rng rng(7);
  const Sizes z{300, 12, 16, 24, 8};
  TestMat x0 = RandomMat(z.rows, z.s * z.k, 0, &rng),
          xprev = RandomMat(z.rows, z.hp * z.k, 0, &rng);
  TestMat w = RandomMat(z.h, z.hp * z.s, 0, &rng), dy = RandomMat(z.rows, z.h * z.k, 0, &rng);
  testing::ExpectStableAcrossThreadCounts("cin", [&] {
    TestMat y(z.rows, z.h * z.k, 0), dx0(z.rows, z.s * z.k, 0), dxprev(z.rows, z.hp * z.k, 0);
    TestMat dw(z.h, z.hp * z.s, 0);
    CinLayerForward(x0.cview(), xprev.cview(), z.s, w.cview(), y.view());
    CinLayerBackward(x0.cview(), xprev.cview(), z.s, w.cview(), dy.cview(), dx0.view(), 0.0f,
                     dxprev.view(), dw.view());
    return std::vector<TestMat>{y, dx0, dxprev, dw};
  });
}

}  // namespace
}  // namespace moerec
