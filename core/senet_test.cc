#include "core/senet.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// The field weights a (B, S) of the definition, in double.
std::vector<double> DirectWeights(const TestMat& v, int64_t s, const TestMat& w1,
                                  const TestMat& w2) {
  const int64_t rows = v.rows(), k = v.cols() / s, sr = w1.cols();
  std::vector<double> a(rows * s);
  for (int64_t b = 0; b < rows; ++b) {
    std::vector<double> z(s, 0.0), hidden(sr, 0.0);
    for (int64_t f = 0; f < s; ++f) {
      for (int64_t c = 0; c < k; ++c) z[f] += v.at(b, f * k + c) / static_cast<double>(k);
    }
    for (int64_t j = 0; j < sr; ++j) {
      for (int64_t f = 0; f < s; ++f) hidden[j] += z[f] * w1.at(f, j);
      hidden[j] = std::max(hidden[j], 0.0);
    }
    for (int64_t f = 0; f < s; ++f) {
      double x = 0.0;
      for (int64_t j = 0; j < sr; ++j) x += hidden[j] * w2.at(j, f);
      a[b * s + f] = std::max(x, 0.0);
    }
  }
  return a;
}

TEST(SenetTest, ForwardReweightsEachFieldByItsExcitation) {
  Rng rng(1);
  const int64_t rows = 6, s = 5, k = 7, sr = 2;
  TestMat v = RandomMat(rows, s * k, 2, &rng), out = RandomMat(rows, s * k, 1, &rng);
  TestMat w1 = RandomMat(s, sr, 1, &rng), w2 = RandomMat(sr, s, 2, &rng);
  SenetCache cache;
  SenetForward(v.cview(), s, w1.cview(), w2.cview(), out.view(), &cache);
  const std::vector<double> a = DirectWeights(v, s, w1, w2);
  int active = 0;
  for (int64_t b = 0; b < rows; ++b) {
    for (int64_t f = 0; f < s; ++f) {
      active += a[b * s + f] > 0.0;
      for (int64_t c = 0; c < k; ++c) {
        EXPECT_NEAR(out.at(b, f * k + c), a[b * s + f] * v.at(b, f * k + c), 1e-5);
      }
    }
  }
  EXPECT_GT(active, 0);  // the data exercise both sides of the ReLUs
  EXPECT_LT(active, rows * s);
  EXPECT_TRUE(out.PaddingIntact());
}

TEST(SenetTest, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  for (int trial = 0; trial < 6; ++trial) {
    const int64_t rows = 1 + rng.Below(4), s = 1 + rng.Below(6), k = 1 + rng.Below(7);
    const int64_t sr = std::max<int64_t>(1, s / 2);
    TestMat v = RandomMat(rows, s * k, rng.Below(3), &rng, -2.0f, 2.0f);
    TestMat w1 = RandomMat(s, sr, rng.Below(2), &rng), w2 = RandomMat(sr, s, rng.Below(2), &rng);
    TestMat dout = RandomMat(rows, s * k, 1, &rng), out(rows, s * k, 2);
    auto loss = [&] {
      SenetCache c;
      SenetForward(v.cview(), s, w1.cview(), w2.cview(), out.view(), &c);
      return Dot(dout, out);
    };
    SenetCache cache;
    SenetForward(v.cview(), s, w1.cview(), w2.cview(), out.view(), &cache);
    TestMat dv = RandomMat(rows, s * k, 1, &rng), dw1(s, sr, 1), dw2(sr, s, 0);
    auto backward = [&](MatView d, float beta) {
      SenetBackward(v.cview(), w1.cview(), w2.cview(), cache, dout.cview(), d, beta, dw1.view(),
                    dw2.view());
    };
    backward(dv.view(), 0.0f);
    const std::string what = "senet " + std::to_string(trial);
    ExpectGradient(what + " v", &v, dv, loss);
    ExpectGradient(what + " w1", &w1, dw1, loss);
    ExpectGradient(what + " w2", &w2, dw2, loss);
    EXPECT_TRUE(dv.PaddingIntact() && dw1.PaddingIntact() && dw2.PaddingIntact());
    ExpectAddsWithBetaOne(what + " dv", dv, backward, &rng);
  }
}

TEST(SenetTest, EmptyAndSingleRowBatches) {
  Rng rng(3);
  for (const int64_t rows : {0, 1}) {
    const int64_t s = 3, k = 5, sr = 1;
    TestMat v = RandomMat(rows, s * k, 1, &rng), out(rows, s * k, 1), dv(rows, s * k, 1);
    TestMat w1 = RandomMat(s, sr, 0, &rng), w2 = RandomMat(sr, s, 0, &rng);
    TestMat dw1(s, sr, 0), dw2(sr, s, 0), dout = RandomMat(rows, s * k, 1, &rng);
    SenetCache cache;
    SenetForward(v.cview(), s, w1.cview(), w2.cview(), out.view(), &cache);
    SenetBackward(v.cview(), w1.cview(), w2.cview(), cache, dout.cview(), dv.view(), 0.0f,
                  dw1.view(), dw2.view());
    if (rows == 0) {
      for (int64_t f = 0; f < s; ++f) EXPECT_EQ(dw1.at(f, 0), 0.0f);
    }
    EXPECT_TRUE(out.PaddingIntact() && dv.PaddingIntact());
  }
}

TEST(SenetTest, SameBitsRunToRunAndCloseAcrossThreadCounts) {
  Rng rng(4);
  const int64_t rows = 2000, s = 24, k = 16, sr = 8;
  TestMat v = RandomMat(rows, s * k, 0, &rng), dout = RandomMat(rows, s * k, 0, &rng);
  TestMat w1 = RandomMat(s, sr, 0, &rng), w2 = RandomMat(sr, s, 0, &rng);
  testing::ExpectStableAcrossThreadCounts("senet", [&] {
    TestMat out(rows, s * k, 0), dv(rows, s * k, 0), dw1(s, sr, 0), dw2(sr, s, 0);
    SenetCache cache;
    SenetForward(v.cview(), s, w1.cview(), w2.cview(), out.view(), &cache);
    SenetBackward(v.cview(), w1.cview(), w2.cview(), cache, dout.cview(), dv.view(), 0.0f,
                  dw1.view(), dw2.view());
    return std::vector<TestMat>{out, dv, dw1, dw2};
  });
}

}  // namespace
}  // namespace moerec
