#include "core/gated_mix.h"

#include <gtest/gtest.h>

#include "core/internal/test_util.h"
#include "core/parallel.h"

namespace moerec {
namespace {

using testing::Dot;
using testing::ExpectGradient;
using testing::RandomMat;
using testing::TestMat;

TEST(GatedMixTest, ForwardIsWeightedSumPerStream) {
  const int e = 3, h = 4, s = 2, rows = 5;
  Rng rng(1);
  TestMat f = RandomMat(rows, e * h, 3, &rng), g = RandomMat(rows, s * e, 1, &rng);
  TestMat z(rows, s * h, 2);
  GatedMixForward(f.cview(), g.cview(), e, z.view());
  for (int r = 0; r < rows; ++r) {
    for (int k = 0; k < s; ++k) {
      for (int j = 0; j < h; ++j) {
        double want = 0.0;
        for (int n = 0; n < e; ++n) want += double{g.at(r, k * e + n)} * f.at(r, n * h + j);
        EXPECT_NEAR(z.at(r, k * h + j), want, 1e-5);
      }
    }
  }
  EXPECT_TRUE(z.PaddingIntact());
}

TEST(GatedMixTest, BackwardMatchesFiniteDifferences) {
  for (const int s : {1, 3}) {
    const int e = 4, h = 37, rows = 6;  // h not a multiple of the vector width
    Rng rng(s);
    TestMat f = RandomMat(rows, e * h, 2, &rng), g = RandomMat(rows, s * e, 1, &rng);
    TestMat dz = RandomMat(rows, s * h, 3, &rng), z(rows, s * h, 1);
    TestMat df(rows, e * h, 1), dg(rows, s * e, 2);
    auto loss = [&] {
      GatedMixForward(f.cview(), g.cview(), e, z.view());
      return Dot(z, dz);
    };
    GatedMixBackward(f.cview(), g.cview(), dz.cview(), e, df.view(), dg.view());
    ExpectGradient("df", &f, df, loss);
    ExpectGradient("dg", &g, dg, loss);
    EXPECT_TRUE(df.PaddingIntact() && dg.PaddingIntact());
  }
}

TEST(GatedMixTest, SameBitsForAnyThreadCount) {
  const int e = 8, h = 128, s = 2, rows = 700;
  Rng rng(7);
  TestMat f = RandomMat(rows, e * h, 0, &rng), g = RandomMat(rows, s * e, 0, &rng);
  TestMat dz = RandomMat(rows, s * h, 0, &rng);
  TestMat z[2] = {TestMat(rows, s * h, 0), TestMat(rows, s * h, 0)};
  TestMat df[2] = {TestMat(rows, e * h, 0), TestMat(rows, e * h, 0)};
  TestMat dg[2] = {TestMat(rows, s * e, 0), TestMat(rows, s * e, 0)};
  const int saved = ComputeThreads();
  for (int i = 0; i < 2; ++i) {
    SetComputeThreads(i == 0 ? 1 : 2);
    GatedMixForward(f.cview(), g.cview(), e, z[i].view());
    GatedMixBackward(f.cview(), g.cview(), dz.cview(), e, df[i].view(), dg[i].view());
  }
  SetComputeThreads(saved);
  EXPECT_TRUE(z[0].SameBits(z[1]));
  EXPECT_TRUE(df[0].SameBits(df[1]));
  EXPECT_TRUE(dg[0].SameBits(dg[1]));
}

}  // namespace
}  // namespace moerec
