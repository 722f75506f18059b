#include "core/concat.h"

#include <gtest/gtest.h>

#include "core/internal/test_util.h"

namespace moerec {
namespace {

using testing::Dot;
using testing::ExpectGradient;
using testing::RandomMat;
using testing::TestMat;

TEST(ConcatTest, ForwardPlacesPartsInColumnBlocks) {
  Rng rng(1);
  const int64_t rows = 5;
  std::vector<TestMat> parts = {RandomMat(rows, 3, 2, &rng), RandomMat(rows, 0, 1, &rng),
                                RandomMat(rows, 6, 0, &rng), RandomMat(rows, 1, 4, &rng)};
  std::vector<ConstMatView> views;
  views.reserve(parts.size());
  for (const TestMat& p : parts) views.push_back(p.cview());
  TestMat out(rows, 10, 3);
  ConcatColumnsForward(views, out.view());
  int64_t col = 0;
  for (const TestMat& p : parts) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < p.cols(); ++c) EXPECT_EQ(out.at(r, col + c), p.at(r, c));
    }
    col += p.cols();
  }
  EXPECT_TRUE(out.PaddingIntact());
}

TEST(ConcatTest, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t rows = 1 + rng.Below(6);
    std::vector<TestMat> parts;
    int64_t total = 0;
    for (int k = 0; k < 3; ++k) {
      parts.push_back(RandomMat(rows, 1 + rng.Below(5), rng.Below(3), &rng));
      total += parts.back().cols();
    }
    TestMat out(rows, total, 2), dout = RandomMat(rows, total, 1, &rng);
    auto loss = [&] {
      std::vector<ConstMatView> views;
      views.reserve(parts.size());
      for (const TestMat& p : parts) views.push_back(p.cview());
      ConcatColumnsForward(views, out.view());
      return Dot(dout, out);
    };
    std::vector<TestMat> dparts;
    std::vector<MatView> dviews;
    dparts.reserve(parts.size());
    dviews.reserve(parts.size());
    for (const TestMat& p : parts) dparts.push_back(RandomMat(rows, p.cols(), 2, &rng));
    for (TestMat& d : dparts) dviews.push_back(d.view());
    ConcatColumnsBackward(dout.cview(), dviews);
    for (int k = 0; k < 3; ++k) {
      ExpectGradient("concat part " + std::to_string(k), &parts[k], dparts[k], loss);
      EXPECT_TRUE(dparts[k].PaddingIntact());
    }
  }
}

TEST(ConcatTest, SplitInvertsConcatOnLargeInputs) {
  Rng rng(3);
  const int64_t rows = 1024;
  TestMat a = RandomMat(rows, 16, 0, &rng), b = RandomMat(rows, 256, 5, &rng);
  TestMat out(rows, 272, 0), da(rows, 16, 1), db(rows, 256, 0);
  ConcatColumnsForward({a.cview(), b.cview()}, out.view());
  ConcatColumnsBackward(out.cview(), {da.view(), db.view()});
  EXPECT_TRUE(da.SameBits(a));
  EXPECT_TRUE(db.SameBits(b));
}

}  // namespace
}  // namespace moerec
