#include "core/bilinear.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/interaction.h"
#include "core/internal/test_util.h"
#include "core/parallel.h"

namespace moerec {
namespace {

using testing::Dot;
using testing::ExpectAddsWithBetaOne;
using testing::ExpectGradient;
using testing::RandomMat;
using testing::TestMat;

constexpr BilinearType kTypes[] = {BilinearType::kFieldAll, BilinearType::kFieldEach,
                                   BilinearType::kFieldInteraction};

std::string Name(BilinearType type) {
  switch (type) {
    case BilinearType::kFieldAll:
      return "field_all";
    case BilinearType::kFieldEach:
      return "field_each";
    case BilinearType::kFieldInteraction:
      return "field_interaction";
  }
  return "?";
}

TEST(BilinearTest, NumWeights) {
  EXPECT_EQ(BilinearNumWeights(BilinearType::kFieldAll, 6), 1);
  EXPECT_EQ(BilinearNumWeights(BilinearType::kFieldEach, 6), 6);
  EXPECT_EQ(BilinearNumWeights(BilinearType::kFieldInteraction, 6), 15);
}

TEST(BilinearTest, ForwardMatchesDefinition) {
  Rng rng(1);
  const int64_t rows = 4, s = 4, k = 5, p = NumFieldPairs(s);
  for (BilinearType type : kTypes) {
    TestMat v = RandomMat(rows, s * k, 2, &rng), out = RandomMat(rows, p * k, 1, &rng);
    TestMat w = RandomMat(BilinearNumWeights(type, s), k * k, 0, &rng);
    BilinearCache cache;
    BilinearForward(type, v.cview(), s, w.data(), out.view(), &cache);
    for (int64_t b = 0; b < rows; ++b) {
      for (int64_t i = 0; i < s; ++i) {
        for (int64_t j = i + 1; j < s; ++j) {
          const int64_t q = FieldPairIndex(i, j, s);
          const int64_t m = type == BilinearType::kFieldAll    ? 0
                            : type == BilinearType::kFieldEach ? i
                                                               : q;
          for (int64_t c = 0; c < k; ++c) {
            double vw = 0.0;
            for (int64_t a = 0; a < k; ++a) vw += double{v.at(b, i * k + a)} * w.at(m, a * k + c);
            EXPECT_NEAR(out.at(b, q * k + c), vw * v.at(b, j * k + c), 1e-5) << Name(type);
          }
        }
      }
    }
    EXPECT_TRUE(out.PaddingIntact());
  }
}

TEST(BilinearTest, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  for (BilinearType type : kTypes) {
    for (int trial = 0; trial < 4; ++trial) {
      const int64_t rows = 1 + rng.Below(4), s = 2 + rng.Below(4), k = 1 + rng.Below(6);
      const int64_t p = NumFieldPairs(s), m = BilinearNumWeights(type, s);
      TestMat v = RandomMat(rows, s * k, rng.Below(3), &rng), w = RandomMat(m, k * k, 0, &rng);
      TestMat dout = RandomMat(rows, p * k, rng.Below(3), &rng), out(rows, p * k, 1);
      auto loss = [&] {
        BilinearCache c;
        BilinearForward(type, v.cview(), s, w.data(), out.view(), &c);
        return Dot(dout, out);
      };
      BilinearCache cache;
      BilinearForward(type, v.cview(), s, w.data(), out.view(), &cache);
      // dw accumulates: start from a known value and compare the difference.
      TestMat prior = RandomMat(m, k * k, 0, &rng), dw = prior,
              dv = RandomMat(rows, s * k, 2, &rng);
      BilinearBackward(type, v.cview(), s, w.data(), cache, dout.cview(), dv.view(), 0.0f,
                       dw.data());
      for (int64_t q = 0; q < m; ++q) {
        for (int64_t c = 0; c < k * k; ++c) dw.at(q, c) -= prior.at(q, c);
      }
      const std::string what = Name(type) + " " + std::to_string(trial);
      ExpectGradient(what + " v", &v, dv, loss);
      ExpectGradient(what + " w", &w, dw, loss);
      EXPECT_TRUE(dv.PaddingIntact());
      TestMat unused(m, k * k, 0);
      ExpectAddsWithBetaOne(
          what + " dv", dv,
          [&](MatView d, float beta) {
            BilinearBackward(type, v.cview(), s, w.data(), cache, dout.cview(), d, beta,
                             unused.data());
          },
          &rng);
    }
  }
}

TEST(BilinearTest, EmptyBatchAndSingleField) {
  Rng rng(3);
  for (BilinearType type : kTypes) {
    // No rows.
    const int64_t s = 3, k = 4, p = NumFieldPairs(s), m = BilinearNumWeights(type, s);
    TestMat v(0, s * k, 1), out(0, p * k, 1), dv(0, s * k, 1);
    TestMat w = RandomMat(m, k * k, 0, &rng), dw = RandomMat(m, k * k, 0, &rng);
    const TestMat dw_before = dw;
    BilinearCache cache;
    BilinearForward(type, v.cview(), s, w.data(), out.view(), &cache);
    BilinearBackward(type, v.cview(), s, w.data(), cache, out.cview(), dv.view(), 0.0f, dw.data());
    EXPECT_TRUE(dw.SameBits(dw_before)) << Name(type);
    // One row of one field: no pairs, a zero gradient.
    TestMat v1 = RandomMat(1, k, 1, &rng), out1(1, 0, 1), dv1 = RandomMat(1, k, 1, &rng);
    TestMat w1 = RandomMat(1, k * k, 0, &rng), dw1(1, k * k, 0);
    BilinearForward(type, v1.cview(), 1, w1.data(), out1.view(), &cache);
    BilinearBackward(type, v1.cview(), 1, w1.data(), cache, out1.cview(), dv1.view(), 0.0f,
                     dw1.data());
    for (int64_t c = 0; c < k; ++c) EXPECT_EQ(dv1.at(0, c), 0.0f);
    EXPECT_TRUE(dv1.PaddingIntact());
  }
}

TEST(BilinearTest, SameBitsRunToRunAndCloseAcrossThreadCounts) {
  Rng rng(4);
  const int64_t rows = 1000, s = 9, k = 16, p = NumFieldPairs(s);
  for (BilinearType type : kTypes) {
    const int64_t m = BilinearNumWeights(type, s);
    TestMat v = RandomMat(rows, s * k, 0, &rng), w = RandomMat(m, k * k, 0, &rng);
    TestMat dout = RandomMat(rows, p * k, 0, &rng);
    testing::ExpectStableAcrossThreadCounts(Name(type), [&] {
      TestMat out(rows, p * k, 0), dv(rows, s * k, 0), dw(m, k * k, 0);
      BilinearCache cache;
      BilinearForward(type, v.cview(), s, w.data(), out.view(), &cache);
      BilinearBackward(type, v.cview(), s, w.data(), cache, dout.cview(), dv.view(), 0.0f,
                       dw.data());
      return std::vector<TestMat>{out, dv, dw};
    });
  }
}

}  // namespace
}  // namespace moerec
