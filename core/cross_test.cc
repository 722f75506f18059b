#include "core/cross.h"

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

constexpr CrossMode kModes[] = {CrossMode::kVector, CrossMode::kMatrix};

int64_t WeightCols(CrossMode mode, int64_t d) { return mode == CrossMode::kVector ? 1 : d; }

TEST(CrossLayerTest, ForwardMatchesDirectFormula) {
  Rng rng(1);
  const int64_t rows = 5, d = 7;
  for (CrossMode mode : kModes) {
    for (bool with_bias : {false, true}) {
      TestMat x0 = RandomMat(rows, d, 2, &rng), xl = RandomMat(rows, d, 1, &rng);
      TestMat w = RandomMat(d, WeightCols(mode, d), 3, &rng), b = RandomMat(1, d, 0, &rng);
      TestMat y = RandomMat(rows, d, 2, &rng);
      CrossLayerCache cache;
      CrossLayerForward(mode, x0.cview(), xl.cview(), w.cview(), with_bias ? b.data() : nullptr,
                        y.view(), &cache);
      for (int64_t r = 0; r < rows; ++r) {
        double s = 0.0;  // xl w, kVector
        for (int64_t c = 0; c < d; ++c) s += static_cast<double>(xl.at(r, c)) * w.at(c, 0);
        for (int64_t c = 0; c < d; ++c) {
          const double bias = with_bias ? b.at(0, c) : 0.0;
          double want;
          if (mode == CrossMode::kVector) {
            want = x0.at(r, c) * s + bias + xl.at(r, c);
          } else {
            double z = bias;
            for (int64_t e = 0; e < d; ++e) z += static_cast<double>(xl.at(r, e)) * w.at(e, c);
            want = x0.at(r, c) * z + xl.at(r, c);
          }
          EXPECT_NEAR(y.at(r, c), want, 1e-5);
        }
      }
      EXPECT_TRUE(y.PaddingIntact());
    }
  }
}

TEST(CrossLayerTest, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  for (CrossMode mode : kModes) {
    for (int trial = 0; trial < 4; ++trial) {
      const int64_t rows = 1 + rng.Below(5), d = 1 + rng.Below(9);
      TestMat x0 = RandomMat(rows, d, rng.Below(3), &rng), xl = RandomMat(rows, d, 1, &rng);
      TestMat w = RandomMat(d, WeightCols(mode, d), rng.Below(3), &rng);
      TestMat b = RandomMat(1, d, 0, &rng), dy = RandomMat(rows, d, 2, &rng), y(rows, d, 1);
      auto loss = [&] {
        CrossLayerCache c;
        CrossLayerForward(mode, x0.cview(), xl.cview(), w.cview(), b.data(), y.view(), &c);
        return Dot(dy, y);
      };
      CrossLayerCache cache;
      CrossLayerForward(mode, x0.cview(), xl.cview(), w.cview(), b.data(), y.view(), &cache);
      TestMat dx0 = RandomMat(rows, d, 1, &rng), dxl = RandomMat(rows, d, 2, &rng);
      TestMat dw(d, WeightCols(mode, d), 1), db(1, d, 0);
      CrossLayerBackward(mode, x0.cview(), xl.cview(), w.cview(), cache, dy.cview(), dx0.view(),
                         0.0f, dxl.view(), dw.view(), db.data());
      ExpectGradient("cross x0", &x0, dx0, loss);
      ExpectGradient("cross xl", &xl, dxl, loss);
      ExpectGradient("cross w", &w, dw, loss);
      ExpectGradient("cross b", &b, db, loss);
      EXPECT_TRUE(dx0.PaddingIntact() && dxl.PaddingIntact() && dw.PaddingIntact());
      // dx0 accumulates with beta 1; dw and db accumulate always (twice the gradient now).
      TestMat scratch(rows, d, 0);
      const TestMat dw_once = dw, db_once = db;
      ExpectAddsWithBetaOne(
          "cross dx0", dx0,
          [&](MatView dx, float beta) {
            CrossLayerBackward(mode, x0.cview(), xl.cview(), w.cview(), cache, dy.cview(), dx, beta,
                               scratch.view(), dw.view(), db.data());
          },
          &rng);
      EXPECT_TRUE(scratch.SameBits(dxl));
      for (int64_t c = 0; c < d; ++c) {
        EXPECT_FLOAT_EQ(db.at(0, c), 2 * db_once.at(0, c));
        for (int64_t e = 0; e < dw.cols(); ++e) EXPECT_FLOAT_EQ(dw.at(c, e), 2 * dw_once.at(c, e));
      }
    }
  }
}

// The first layer of a chain: xl is x0 itself, and x0's gradient is dx0 + dxl.
TEST(CrossLayerTest, FirstLayerWithXlEqualToX0) {
  Rng rng(3);
  for (CrossMode mode : kModes) {
    const int64_t rows = 3, d = 5;
    TestMat x0 = RandomMat(rows, d, 1, &rng), w = RandomMat(d, WeightCols(mode, d), 0, &rng);
    TestMat dy = RandomMat(rows, d, 0, &rng), y(rows, d, 0);
    auto loss = [&] {
      CrossLayerCache c;
      CrossLayerForward(mode, x0.cview(), x0.cview(), w.cview(), nullptr, y.view(), &c);
      return Dot(dy, y);
    };
    CrossLayerCache cache;
    CrossLayerForward(mode, x0.cview(), x0.cview(), w.cview(), nullptr, y.view(), &cache);
    TestMat dx0(rows, d, 0), dxl(rows, d, 0), dw(d, WeightCols(mode, d), 0);
    CrossLayerBackward(mode, x0.cview(), x0.cview(), w.cview(), cache, dy.cview(), dx0.view(), 0.0f,
                       dxl.view(), dw.view(), nullptr);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < d; ++c) dx0.at(r, c) += dxl.at(r, c);
    }
    ExpectGradient("cross first layer x0", &x0, dx0, loss);
    ExpectGradient("cross first layer w", &w, dw, loss);
  }
}

TEST(CrossLayerTest, EmptyAndSingleRowBatches) {
  Rng rng(4);
  for (CrossMode mode : kModes) {
    for (int64_t rows : {0, 1}) {
      const int64_t d = 3;
      TestMat x0 = RandomMat(rows, d, 1, &rng), xl = RandomMat(rows, d, 1, &rng);
      TestMat w = RandomMat(d, WeightCols(mode, d), 0, &rng), b = RandomMat(1, d, 0, &rng);
      TestMat y(rows, d, 1), dy = RandomMat(rows, d, 1, &rng), dx0(rows, d, 1), dxl(rows, d, 1);
      TestMat dw(d, WeightCols(mode, d), 0), db(1, d, 0);
      CrossLayerCache cache;
      CrossLayerForward(mode, x0.cview(), xl.cview(), w.cview(), b.data(), y.view(), &cache);
      CrossLayerBackward(mode, x0.cview(), xl.cview(), w.cview(), cache, dy.cview(), dx0.view(),
                         1.0f, dxl.view(), dw.view(), db.data());
      if (rows == 0) {
        for (int64_t c = 0; c < d; ++c) EXPECT_EQ(db.at(0, c), 0.0f);
      } else {
        for (int64_t c = 0; c < d; ++c) {
          EXPECT_FLOAT_EQ(db.at(0, c),
                          mode == CrossMode::kVector ? dy.at(0, c) : dy.at(0, c) * x0.at(0, c));
        }
      }
      EXPECT_TRUE(y.PaddingIntact() && dx0.PaddingIntact() && dxl.PaddingIntact());
    }
  }
}

TEST(CrossLayerTest, SameBitsRunToRunAndCloseAcrossThreadCounts) {
  Rng rng(5);
  const int64_t rows = 1500, d = 96;
  for (CrossMode mode : kModes) {
    TestMat x0 = RandomMat(rows, d, 0, &rng), xl = RandomMat(rows, d, 0, &rng);
    TestMat w = RandomMat(d, WeightCols(mode, d), 0, &rng), b = RandomMat(1, d, 0, &rng);
    TestMat dy = RandomMat(rows, d, 0, &rng);
    testing::ExpectStableAcrossThreadCounts("cross", [&] {
      TestMat y(rows, d, 0), dx0(rows, d, 0), dxl(rows, d, 0), dw(d, WeightCols(mode, d), 0);
      TestMat db(1, d, 0);
      CrossLayerCache cache;
      CrossLayerForward(mode, x0.cview(), xl.cview(), w.cview(), b.data(), y.view(), &cache);
      CrossLayerBackward(mode, x0.cview(), xl.cview(), w.cview(), cache, dy.cview(), dx0.view(),
                         0.0f, dxl.view(), dw.view(), db.data());
      return std::vector<TestMat>{y, dx0, dxl, dw, db};
    });
  }
}

}  // namespace
}  // namespace moerec
