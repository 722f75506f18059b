#include "core/grouped_linear.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/internal/test_util.h"
#include "core/linear.h"

namespace moerec {
namespace {

using testing::RandomMat;
using testing::TestMat;

struct Groups {
  std::vector<int64_t> begin;
  std::vector<TestMat> w, b, dw, db;
  std::vector<ConstMatView> wv() const {
    std::vector<ConstMatView> v;
    for (const TestMat& m : w) v.push_back(m.cview());
    return v;
  }
  std::vector<const float*> bv() const {
    std::vector<const float*> v;
    for (const TestMat& m : b) v.push_back(&m.at(0, 0));
    return v;
  }
};

Groups MakeGroups(const std::vector<int64_t>& sizes, int64_t in, int64_t out, Rng* rng) {
  Groups g;
  g.begin.push_back(0);
  for (int64_t s : sizes) {
    g.begin.push_back(g.begin.back() + s);
    g.w.push_back(RandomMat(in, out, 1, rng));
    g.b.push_back(RandomMat(1, out, 0, rng));
    g.dw.push_back(RandomMat(in, out, 1, rng, 0.0f, 0.0f));
    g.db.push_back(RandomMat(1, out, 0, rng, 0.0f, 0.0f));
  }
  return g;
}

TEST(GroupedLinearTest, EachGroupIsItsOwnLinearAndGradientsMatchFiniteDifferences) {
  const int64_t in = 4, out = 3;
  Rng rng(3);
  Groups g = MakeGroups({3, 0, 5, 1}, in, out, &rng);
  const int64_t n = g.begin.back();
  TestMat x = RandomMat(n, in, 2, &rng), y(n, out, 1), dy = RandomMat(n, out, 0, &rng);
  auto loss = [&] {
    GroupedLinearForward(x.cview(), g.begin, g.wv(), g.bv(), y.view());
    return testing::Dot(y, dy);
  };
  loss();
  for (size_t k = 0; k + 1 < g.begin.size(); ++k) {
    for (int64_t r = g.begin[k]; r < g.begin[k + 1]; ++r) {
      for (int64_t j = 0; j < out; ++j) {
        double v = g.b[k].at(0, j);
        for (int64_t i = 0; i < in; ++i) v += static_cast<double>(x.at(r, i)) * g.w[k].at(i, j);
        EXPECT_NEAR(y.at(r, j), v, 1e-5) << "group " << k << " row " << r;
      }
    }
  }
  TestMat dx(n, in, 1);
  std::vector<MatView> dwv;
  std::vector<float*> dbv;
  for (size_t k = 0; k < g.w.size(); ++k) {
    dwv.push_back(g.dw[k].view());
    dbv.push_back(g.db[k].data());
  }
  GroupedLinearBackward(x.cview(), g.begin, g.wv(), dy.cview(), dwv, dbv, dx.view());
  testing::ExpectGradient("grouped x", &x, dx, loss);
  for (size_t k = 0; k < g.w.size(); ++k) {
    testing::ExpectGradient("grouped w" + std::to_string(k), &g.w[k], g.dw[k], loss);
    testing::ExpectGradient("grouped b" + std::to_string(k), &g.b[k], g.db[k], loss);
  }
  // dx_beta = 1 adds.
  testing::ExpectAddsWithBetaOne(
      "grouped dx", dx,
      [&](MatView d, float beta) {
        GroupedLinearBackward(x.cview(), g.begin, g.wv(), dy.cview(), dwv, {}, d, beta);
      },
      &rng);
}

TEST(GroupedLinearTest, LargeAndManyGroupsAgreeWithPerGroupLinearForAnyThreadCount) {
  const int64_t in = 24, out = 16;
  Rng rng(5);
  std::vector<int64_t> sizes = {700, 0, 3, 129, 1, 64};
  for (int k = 0; k < 30; ++k) sizes.push_back(k % 7);
  Groups g = MakeGroups(sizes, in, out, &rng);
  const int64_t n = g.begin.back();
  const TestMat x = RandomMat(n, in, 0, &rng), dy = RandomMat(n, out, 0, &rng);
  TestMat want(n, out, 0);
  for (size_t k = 0; k < g.w.size(); ++k) {
    const int64_t rows = g.begin[k + 1] - g.begin[k];
    if (rows == 0) continue;
    LinearForward(x.cview().Rows(g.begin[k], rows), g.w[k].cview(), g.b[k].data(),
                  want.view().Rows(g.begin[k], rows));
  }
  testing::ExpectStableAcrossThreadCounts("grouped linear", [&] {
    TestMat y(n, out, 0), dx(n, in, 0);
    GroupedLinearForward(x.cview(), g.begin, g.wv(), g.bv(), y.view());
    std::vector<TestMat> dw;
    std::vector<MatView> dwv;
    for (size_t k = 0; k < g.w.size(); ++k) dw.push_back(RandomMat(in, out, 0, &rng, 0.0f, 0.0f));
    for (TestMat& m : dw) dwv.push_back(m.view());
    GroupedLinearBackward(x.cview(), g.begin, g.wv(), dy.cview(), dwv, {}, dx.view());
    std::vector<TestMat> out_mats = {y, dx};
    for (TestMat& m : dw) out_mats.push_back(m);
    return out_mats;
  });
  TestMat y(n, out, 0);
  GroupedLinearForward(x.cview(), g.begin, g.wv(), g.bv(), y.view());
  testing::ExpectClose("grouped vs per-group linear", y, want, 1e-5);
}

}  // namespace
}  // namespace moerec
