#include "experts/layers/gated_mix.h"

#include <gtest/gtest.h>

#include "experts/test_util.h"

namespace moerec {
namespace {

using testutil::Dot;

TEST(GatedMixTest, ForwardIsWeightedSum) {
  const int e = 3, h = 4, s = 2, rows = 5;
  Rng rng(1);
  Tensor f({rows, e * h}), g({rows, s * e}), z({rows, s * h});
  testutil::FillNormal(&f, &rng);
  testutil::FillNormal(&g, &rng);
  GatedMixForward(f.view(), g.view(), e, z.view());
  for (int r = 0; r < rows; ++r) {
    for (int k = 0; k < s; ++k) {
      for (int j = 0; j < h; ++j) {
        double want = 0.0;
        for (int n = 0; n < e; ++n) want += g.at(r, k * e + n) * f.at(r, n * h + j);
        EXPECT_NEAR(z.at(r, k * h + j), want, 1e-5);
      }
    }
  }
}

TEST(GatedMixTest, Gradients) {
  for (const int s : {1, 3}) {
    const int e = 4, h = 37, rows = 6;  // h not a multiple of the vector width
    Rng rng(s);
    Tensor f({rows, e * h}), g({rows, s * e}), z({rows, s * h}), r({rows, s * h});
    Tensor df({rows, e * h}), dg({rows, s * e});
    testutil::FillNormal(&f, &rng);
    testutil::FillNormal(&g, &rng);
    testutil::FillNormal(&r, &rng);
    auto loss = [&] {
      GatedMixForward(f.view(), g.view(), e, z.view());
      return Dot(z.view(), r);
    };
    GatedMixBackward(f.view(), g.view(), r.view(), e, df.view(), dg.view());
    testutil::ExpectGradientMatches(f.data(), df.data(), f.size(), loss, "df", 1);
    testutil::ExpectGradientMatches(g.data(), dg.data(), g.size(), loss, "dg", 2);
  }
}

}  // namespace
}  // namespace moerec
