#include "core/low_rank.h"

#include <gtest/gtest.h>

#include "core/internal/test_util.h"

namespace moerec {
namespace {

using testing::RandomMat;
using testing::TestMat;

TEST(LowRankAdapterTest, ForwardMatchesTheFormulaAndGradientsFiniteDifferences) {
  for (const int64_t rows : {int64_t{0}, int64_t{1}, int64_t{6}}) {
    const int64_t in = 5, rank = 2, out = 4, m = 3, col = 1;  // column 1 of (R, 3) weights
    Rng rng(rows + 1);
    TestMat x = RandomMat(rows, in, 1, &rng), a = RandomMat(in, rank, 2, &rng),
            b = RandomMat(rank, out, 0, &rng), c = RandomMat(1, out, 0, &rng),
            w = RandomMat(rows, m, 0, &rng), base = RandomMat(rows, out, 1, &rng),
            dpre = RandomMat(rows, out, 0, &rng);
    TestMat t(rows, rank, 0), u(rows, out, 0), pre(rows, out, 1);
    auto loss = [&] {
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < out; ++j) pre.at(r, j) = base.at(r, j);
      }
      LowRankAdapterForward(x.cview(), a.cview(), b.cview(), c.data(), w.data() + col, w.ld(),
                            t.view(), u.view(), pre.view());
      return testing::Dot(pre, dpre);
    };
    loss();
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < out; ++j) {
        double v = c.at(0, j);
        for (int64_t k = 0; k < rank; ++k) {
          double xa = 0.0;
          for (int64_t i = 0; i < in; ++i) xa += static_cast<double>(x.at(r, i)) * a.at(i, k);
          v += xa * b.at(k, j);
        }
        EXPECT_NEAR(pre.at(r, j), base.at(r, j) + w.at(r, col) * v, 1e-5);
      }
    }
    if (rows == 0) continue;
    TestMat da(in, rank, 0), db(rank, out, 0), dc(1, out, 0), dw(rows, m, 0), dx(rows, in, 1);
    da.Fill(0.0f);
    db.Fill(0.0f);
    dc.Fill(0.0f);
    dw.Fill(0.0f);
    dx.Fill(0.0f);
    TestMat du(rows, out, 0), dt(rows, rank, 0);
    LowRankAdapterBackward(x.cview(), a.cview(), b.cview(), w.data() + col, w.ld(), t.cview(),
                           u.cview(), dpre.cview(), du.view(), dt.view(), da.view(), db.view(),
                           dc.data(), dw.data() + col, dx.view());
    testing::ExpectGradient("lora x", &x, dx, loss);
    testing::ExpectGradient("lora A", &a, da, loss);
    testing::ExpectGradient("lora B", &b, db, loss);
    testing::ExpectGradient("lora c", &c, dc, loss);
    testing::ExpectGradient("lora w", &w, dw, loss);
    // Only the adapter's weight column gets a gradient.
    for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(dw.at(r, 0), 0.0f);
  }
}

}  // namespace
}  // namespace moerec
