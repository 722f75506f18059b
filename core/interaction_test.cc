#include "core/interaction.h"

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

// Field f of row b, element c, of a (B, S*k) matrix.
double Field(const TestMat& v, int64_t k, int64_t b, int64_t f, int64_t c) {
  return v.at(b, f * k + c);
}

TEST(FieldPairTest, IndexIsRowMajorOverUpperTriangle) {
  for (int64_t s : {1, 2, 5, 9}) {
    int64_t p = 0;
    for (int64_t i = 0; i < s; ++i) {
      for (int64_t j = i + 1; j < s; ++j) EXPECT_EQ(FieldPairIndex(i, j, s), p++);
    }
    EXPECT_EQ(NumFieldPairs(s), p);
  }
}

TEST(BiInteractionTest, ForwardIsSumOverFieldPairs) {
  Rng rng(1);
  const int64_t b = 4, s = 5, k = 7;
  TestMat v = RandomMat(b, s * k, 3, &rng), out = RandomMat(b, k, 2, &rng);
  BiInteractionForward(v.cview(), s, out.view());
  for (int64_t r = 0; r < b; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      double want = 0.0;
      for (int64_t i = 0; i < s; ++i) {
        for (int64_t j = i + 1; j < s; ++j) want += Field(v, k, r, i, c) * Field(v, k, r, j, c);
      }
      EXPECT_NEAR(out.at(r, c), want, 1e-5);
    }
  }
  EXPECT_TRUE(out.PaddingIntact());
}

TEST(BiInteractionTest, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  for (int trial = 0; trial < 5; ++trial) {
    const int64_t b = 1 + rng.Below(4), s = 1 + rng.Below(5), k = 1 + rng.Below(9);
    TestMat v = RandomMat(b, s * k, rng.Below(3), &rng), out(b, k, 1);
    TestMat dout = RandomMat(b, k, rng.Below(3), &rng), dv(b, s * k, 2);
    auto loss = [&] {
      BiInteractionForward(v.cview(), s, out.view());
      return Dot(dout, out);
    };
    auto backward = [&](MatView d, float beta) {
      BiInteractionBackward(v.cview(), s, dout.cview(), d, beta);
    };
    backward(dv.view(), 0.0f);
    ExpectGradient("bi-interaction v", &v, dv, loss);
    ExpectAddsWithBetaOne("bi-interaction dv", dv, backward, &rng);
    EXPECT_TRUE(dv.PaddingIntact());
  }
}

TEST(InnerProductTest, ForwardIsPairwiseDotProducts) {
  Rng rng(3);
  const int64_t b = 3, s = 6, k = 5;
  TestMat v = RandomMat(b, s * k, 1, &rng), out = RandomMat(b, NumFieldPairs(s), 2, &rng);
  InnerProductForward(v.cview(), s, out.view());
  for (int64_t r = 0; r < b; ++r) {
    for (int64_t i = 0; i < s; ++i) {
      for (int64_t j = i + 1; j < s; ++j) {
        double want = 0.0;
        for (int64_t c = 0; c < k; ++c) want += Field(v, k, r, i, c) * Field(v, k, r, j, c);
        EXPECT_NEAR(out.at(r, FieldPairIndex(i, j, s)), want, 1e-5);
      }
    }
  }
  EXPECT_TRUE(out.PaddingIntact());
}

TEST(InnerProductTest, BackwardMatchesFiniteDifferences) {
  Rng rng(4);
  for (int trial = 0; trial < 5; ++trial) {
    const int64_t b = 1 + rng.Below(4), s = 2 + rng.Below(4), k = 1 + rng.Below(19);
    const int64_t p = NumFieldPairs(s);
    TestMat v = RandomMat(b, s * k, rng.Below(3), &rng), out(b, p, 1);
    TestMat dout = RandomMat(b, p, rng.Below(3), &rng), dv(b, s * k, 1);
    auto loss = [&] {
      InnerProductForward(v.cview(), s, out.view());
      return Dot(dout, out);
    };
    auto backward = [&](MatView d, float beta) {
      InnerProductBackward(v.cview(), s, dout.cview(), d, beta);
    };
    backward(dv.view(), 0.0f);
    ExpectGradient("inner product v", &v, dv, loss);
    ExpectAddsWithBetaOne("inner product dv", dv, backward, &rng);
    EXPECT_TRUE(dv.PaddingIntact());
  }
}

TEST(OuterProductTest, ForwardIsBilinearFormPerPair) {
  Rng rng(5);
  const int64_t b = 3, s = 4, k = 5, p = NumFieldPairs(s);
  TestMat v = RandomMat(b, s * k, 2, &rng), kernel = RandomMat(p, k * k, 0, &rng);
  TestMat out = RandomMat(b, p, 3, &rng);
  OuterProductForward(v.cview(), s, kernel.data(), out.view());
  for (int64_t r = 0; r < b; ++r) {
    for (int64_t i = 0; i < s; ++i) {
      for (int64_t j = i + 1; j < s; ++j) {
        const int64_t q = FieldPairIndex(i, j, s);
        double want = 0.0;
        for (int64_t a = 0; a < k; ++a) {
          for (int64_t c = 0; c < k; ++c) {
            want += Field(v, k, r, i, a) * kernel.at(q, a * k + c) * Field(v, k, r, j, c);
          }
        }
        EXPECT_NEAR(out.at(r, q), want, 1e-5);
      }
    }
  }
  EXPECT_TRUE(out.PaddingIntact());
}

TEST(OuterProductTest, BackwardMatchesFiniteDifferences) {
  Rng rng(6);
  for (int trial = 0; trial < 5; ++trial) {
    const int64_t b = 1 + rng.Below(4), s = 2 + rng.Below(3), k = 1 + rng.Below(6);
    const int64_t p = NumFieldPairs(s);
    TestMat v = RandomMat(b, s * k, rng.Below(3), &rng), kernel = RandomMat(p, k * k, 0, &rng);
    TestMat out(b, p, 1), dout = RandomMat(b, p, rng.Below(3), &rng), dv(b, s * k, 2);
    auto loss = [&] {
      OuterProductForward(v.cview(), s, kernel.data(), out.view());
      return Dot(dout, out);
    };
    // dkernel accumulates: start from a known value and compare the difference.
    TestMat prior = RandomMat(p, k * k, 0, &rng), dkernel = prior;
    OuterProductBackward(v.cview(), s, kernel.data(), dout.cview(), dv.view(), dkernel.data());
    for (int64_t q = 0; q < p; ++q) {
      for (int64_t c = 0; c < k * k; ++c) dkernel.at(q, c) -= prior.at(q, c);
    }
    ExpectGradient("outer product v", &v, dv, loss);
    ExpectGradient("outer product kernel", &kernel, dkernel, loss);
    TestMat unused(p, k * k, 0);
    ExpectAddsWithBetaOne(
        "outer product dv", dv,
        [&](MatView d, float beta) {
          OuterProductBackward(v.cview(), s, kernel.data(), dout.cview(), d, unused.data(), beta);
        },
        &rng);
    EXPECT_TRUE(dv.PaddingIntact());
  }
}

TEST(InteractionTest, EmptyBatchAndSingleFieldAreFine) {
  Rng rng(7);
  for (int64_t b : {0, 1}) {
    const int64_t k = 3;
    // One field: no pairs, a zero bi-interaction (to rounding: FMA may contract the square).
    TestMat v = RandomMat(b, k, 1, &rng), bi = RandomMat(b, k, 1, &rng), dv(b, k, 1);
    TestMat none(b, 0, 1), kernel(1, 1, 0);
    BiInteractionForward(v.cview(), 1, bi.view());
    for (int64_t c = 0; c < b * k; ++c) EXPECT_NEAR(bi.at(0, c), 0.0f, 1e-6);
    InnerProductForward(v.cview(), 1, none.view());
    OuterProductForward(v.cview(), 1, kernel.data(), none.view());
    InnerProductBackward(v.cview(), 1, none.cview(), dv.view());
    for (int64_t c = 0; c < b * k; ++c) EXPECT_EQ(dv.at(0, c), 0.0f);
    OuterProductBackward(v.cview(), 1, kernel.data(), none.cview(), dv.view(), kernel.data());
    BiInteractionBackward(v.cview(), 1, bi.cview(), dv.view());
    EXPECT_TRUE(dv.PaddingIntact() && bi.PaddingIntact() && none.PaddingIntact());
  }
  // Several fields, no rows.
  const int64_t s = 3, k = 5, p = NumFieldPairs(s);
  TestMat v(0, s * k, 1), out(0, p, 1), bi(0, k, 1), dv(0, s * k, 1), dout(0, p, 1);
  TestMat kernel = RandomMat(p, k * k, 0, &rng);
  const TestMat kernel_before = kernel;
  BiInteractionForward(v.cview(), s, bi.view());
  BiInteractionBackward(v.cview(), s, bi.cview(), dv.view());
  InnerProductForward(v.cview(), s, out.view());
  InnerProductBackward(v.cview(), s, dout.cview(), dv.view());
  OuterProductForward(v.cview(), s, kernel.data(), out.view());
  OuterProductBackward(v.cview(), s, kernel.data(), dout.cview(), dv.view(), kernel.data());
  EXPECT_TRUE(kernel.SameBits(kernel_before));  // nothing to add
}

// Bi-interaction and inner products: the same bits for any thread count. Kernel products (BLAS):
// the same bits run to run, and close across thread counts.
TEST(InteractionTest, ThreadCountInvariance) {
  Rng rng(8);
  const int64_t b = 900, s = 11, k = 16, p = NumFieldPairs(s);
  TestMat v = RandomMat(b, s * k, 0, &rng), kernel = RandomMat(p, k * k, 0, &rng);
  TestMat dpair = RandomMat(b, p, 0, &rng), dbi = RandomMat(b, k, 0, &rng);
  std::vector<TestMat> exact[3], blas[3];
  const int saved = ComputeThreads();
  for (int t = 0; t < 3; ++t) {
    SetComputeThreads(t == 0 ? 1 : 2);
    TestMat bi(b, k, 0), inner(b, p, 0), outer(b, p, 0);
    TestMat dv_bi(b, s * k, 0), dv_inner(b, s * k, 0), dv_outer(b, s * k, 0), dk(p, k * k, 0);
    BiInteractionForward(v.cview(), s, bi.view());
    BiInteractionBackward(v.cview(), s, dbi.cview(), dv_bi.view());
    InnerProductForward(v.cview(), s, inner.view());
    InnerProductBackward(v.cview(), s, dpair.cview(), dv_inner.view());
    OuterProductForward(v.cview(), s, kernel.data(), outer.view());
    OuterProductBackward(v.cview(), s, kernel.data(), dpair.cview(), dv_outer.view(), dk.data());
    exact[t] = {bi, inner, dv_bi, dv_inner};
    blas[t] = {outer, dv_outer, dk};
  }
  SetComputeThreads(saved);
  for (size_t i = 0; i < exact[0].size(); ++i) {
    EXPECT_TRUE(exact[0][i].SameBits(exact[1][i])) << "result " << i;
  }
  for (size_t i = 0; i < blas[0].size(); ++i) {
    EXPECT_TRUE(blas[1][i].SameBits(blas[2][i])) << "result " << i;
    testing::ExpectClose("kernel product result " + std::to_string(i), blas[0][i], blas[1][i]);
  }
}

}  // namespace
}  // namespace moerec
