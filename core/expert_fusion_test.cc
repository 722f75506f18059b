#include "core/expert_fusion.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/internal/test_util.h"
#include "core/parallel.h"

namespace moerec {
namespace {

using testing::RandomMat;
using testing::TestMat;

// The fusion in double, straight from docs/models.md.
double Reference(const TestMat& s, const TestMat& dm, const TestMat& tk, int d, int64_t r, int t,
                 int64_t j, int nd, int nt, int64_t h, const FusionWeights& w) {
  auto fuse = [&](const TestMat& m, int n, int own, double beta) {
    if (n == 1) return static_cast<double>(m.at(r, j));
    double others = 0.0;
    for (int k = 0; k < n; ++k) {
      if (k != own) others += m.at(r, k * h + j);
    }
    return beta * m.at(r, own * h + j) + (1.0 - beta) / (n - 1) * others;
  };
  return s.at(r, t * h + j) + w.alpha_domain * fuse(dm, nd, d, w.beta_domain) +
         w.alpha_task * fuse(tk, nt, t, w.beta_task);
}

class FusionTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(FusionTest, ForwardMatchesTheFormulaAndGradientsFiniteDifferences) {
  // Plain variables, not a structured binding: the lambdas below capture them (clang 14 cannot
  // capture bindings).
  const int nd = GetParam().first, nt = GetParam().second;
  const int64_t rows = 7, h = 3;
  Rng rng(nd * 10 + nt);
  TestMat s = RandomMat(rows, nt * h, 2, &rng), dm = RandomMat(rows, nd * h, 1, &rng),
          tk = RandomMat(rows, nt * h, 3, &rng), dz = RandomMat(rows, nt * h, 0, &rng);
  std::vector<int32_t> dom(rows);
  for (int64_t r = 0; r < rows; ++r) dom[r] = static_cast<int32_t>(rng.Below(nd));
  float wv[4] = {0.7f, 0.4f, 0.8f, 0.6f};
  auto weights = [&] { return FusionWeights{wv[0], wv[1], wv[2], wv[3]}; };
  TestMat z(rows, nt * h, 1);
  auto loss = [&] {
    M3oeFusionForward(s.cview(), dm.cview(), tk.cview(), dom.data(), nd, nt, weights(), z.view());
    return testing::Dot(z, dz);
  };
  loss();
  for (int64_t r = 0; r < rows; ++r) {
    for (int t = 0; t < nt; ++t) {
      for (int64_t j = 0; j < h; ++j) {
        EXPECT_NEAR(z.at(r, t * h + j), Reference(s, dm, tk, dom[r], r, t, j, nd, nt, h, weights()),
                    1e-5);
      }
    }
  }
  TestMat ddm(rows, nd * h, 2), dtk(rows, nt * h, 0);
  double dw[4] = {0.25, 0, 0, 0};  // accumulates
  M3oeFusionBackward(dm.cview(), tk.cview(), dom.data(), nd, nt, weights(), dz.cview(), ddm.view(),
                     dtk.view(), dw);
  dw[0] -= 0.25;
  testing::ExpectGradient("fusion domain", &dm, ddm, loss);
  testing::ExpectGradient("fusion task", &tk, dtk, loss);
  testing::ExpectGradient("fusion shared", &s, dz, loss);  // the identity
  TestMat dwm(1, 4, 0);
  for (int k = 0; k < 4; ++k) dwm.at(0, k) = static_cast<float>(dw[k]);
  testing::ExpectGradient("fusion weights", wv, 1, 4, 4, &dwm.at(0, 0), 4, loss);
  // beta_d plays no part with one domain, beta_t none with one task.
  if (nd == 1) {
    EXPECT_EQ(dw[2], 0.0);
  }
  if (nt == 1) {
    EXPECT_EQ(dw[3], 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(DomainsAndTasks, FusionTest,
                         ::testing::Values(std::pair{3, 2}, std::pair{1, 1}, std::pair{2, 3},
                                           std::pair{4, 1}));

TEST(FusionTest, SameBitsForAnyThreadCount) {
  const int64_t rows = 3000, h = 8;
  const int nd = 3, nt = 2;
  Rng rng(5);
  TestMat s = RandomMat(rows, nt * h, 0, &rng), dm = RandomMat(rows, nd * h, 0, &rng),
          tk = RandomMat(rows, nt * h, 0, &rng), dz = RandomMat(rows, nt * h, 0, &rng);
  std::vector<int32_t> dom(rows);
  for (int64_t r = 0; r < rows; ++r) dom[r] = static_cast<int32_t>(r * nd / rows);
  const FusionWeights w{0.6f, 0.5f, 0.7f, 0.9f};
  double dw1[4] = {}, dw4[4] = {};
  TestMat z1(rows, nt * h, 0), z4(rows, nt * h, 0), d1(rows, nd * h, 0), d4(rows, nd * h, 0),
      t1(rows, nt * h, 0), t4(rows, nt * h, 0);
  SetComputeThreads(1);
  M3oeFusionForward(s.cview(), dm.cview(), tk.cview(), dom.data(), nd, nt, w, z1.view());
  M3oeFusionBackward(dm.cview(), tk.cview(), dom.data(), nd, nt, w, dz.cview(), d1.view(),
                     t1.view(), dw1);
  SetComputeThreads(4);
  M3oeFusionForward(s.cview(), dm.cview(), tk.cview(), dom.data(), nd, nt, w, z4.view());
  M3oeFusionBackward(dm.cview(), tk.cview(), dom.data(), nd, nt, w, dz.cview(), d4.view(),
                     t4.view(), dw4);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(dw1[k], dw4[k]);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < nt * h; ++c) {
      ASSERT_EQ(z1.at(r, c), z4.at(r, c));
      ASSERT_EQ(t1.at(r, c), t4.at(r, c));
    }
    for (int64_t c = 0; c < nd * h; ++c) ASSERT_EQ(d1.at(r, c), d4.at(r, c));
  }
}

}  // namespace
}  // namespace moerec
