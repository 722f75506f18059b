#include "core/field_attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

struct Sizes {
  int64_t rows, s, kin, h, d;
  int64_t e() const { return h * d; }
};

struct Weights {
  TestMat q, k, v, res;
  Weights(const Sizes& z, Rng* rng)
      : q(RandomMat(z.kin, z.e(), 1, rng)),
        k(RandomMat(z.kin, z.e(), 0, rng)),
        v(RandomMat(z.kin, z.e(), 2, rng)),
        res(RandomMat(z.kin, z.e(), 1, rng)) {}
  ConstMatView Res(bool residual) const {
    return residual ? res.cview() : ConstMatView(nullptr, res.rows(), res.cols(), res.ld());
  }
};

// The definition, in double: y (B, S*E).
std::vector<double> DirectForward(const Sizes& z, const TestMat& x, const Weights& w, bool residual,
                                  double scale) {
  const int64_t e = z.e();
  std::vector<double> y(z.rows * z.s * e);
  for (int64_t b = 0; b < z.rows; ++b) {
    // proj[m][s][j]: m = 0 q, 1 k, 2 v, 3 res.
    std::vector<double> proj(4 * z.s * e, 0.0);
    const TestMat* mats[4] = {&w.q, &w.k, &w.v, &w.res};
    for (int m = 0; m < 4; ++m) {
      for (int64_t s = 0; s < z.s; ++s) {
        for (int64_t j = 0; j < e; ++j) {
          for (int64_t c = 0; c < z.kin; ++c) {
            proj[(m * z.s + s) * e + j] +=
                static_cast<double>(x.at(b, s * z.kin + c)) * mats[m]->at(c, j);
          }
        }
      }
    }
    auto p = [&](int m, int64_t s, int64_t j) { return proj[(m * z.s + s) * e + j]; };
    for (int64_t h = 0; h < z.h; ++h) {
      for (int64_t s = 0; s < z.s; ++s) {
        std::vector<double> a(z.s);
        for (int64_t t = 0; t < z.s; ++t) {
          a[t] = 0.0;
          for (int64_t c = 0; c < z.d; ++c) a[t] += p(0, s, h * z.d + c) * p(1, t, h * z.d + c);
          a[t] *= scale;
        }
        const double mx = *std::max_element(a.begin(), a.end());
        double sum = 0.0;
        for (double& v : a) sum += (v = std::exp(v - mx));
        for (int64_t c = 0; c < z.d; ++c) {
          const int64_t j = h * z.d + c;
          double o = residual ? p(3, s, j) : 0.0;
          for (int64_t t = 0; t < z.s; ++t) o += a[t] / sum * p(2, t, j);
          y[(b * z.s + s) * e + j] = std::max(o, 0.0);
        }
      }
    }
  }
  return y;
}

TEST(FieldAttentionTest, ForwardMatchesDefinition) {
  Rng rng(1);
  for (const Sizes z : {Sizes{3, 4, 5, 2, 3}, Sizes{2, 1, 3, 1, 4}, Sizes{1, 5, 2, 3, 1}}) {
    for (bool residual : {true, false}) {
      for (float scale : {1.0f, 0.5f}) {
        Weights w(z, &rng);
        TestMat x = RandomMat(z.rows, z.s * z.kin, 2, &rng, -1.5f, 1.5f);
        TestMat y = RandomMat(z.rows, z.s * z.e(), 3, &rng);
        FieldAttentionCache cache;
        FieldAttentionForward(x.cview(), z.s, z.h, w.q.cview(), w.k.cview(), w.v.cview(),
                              w.Res(residual), y.view(), &cache, scale);
        const std::vector<double> want = DirectForward(z, x, w, residual, scale);
        for (int64_t b = 0; b < z.rows; ++b) {
          for (int64_t j = 0; j < z.s * z.e(); ++j) {
            EXPECT_NEAR(y.at(b, j), want[b * z.s * z.e() + j], 1e-5);
          }
        }
        EXPECT_TRUE(y.PaddingIntact());
      }
    }
  }
}

TEST(FieldAttentionTest, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  int trial = 0;
  for (const Sizes z : {Sizes{2, 3, 4, 2, 3}, Sizes{1, 4, 3, 1, 5}, Sizes{3, 2, 2, 3, 2}}) {
    for (bool residual : {true, false}) {
      const float scale = trial++ % 2 == 0 ? 1.0f : 0.7f;
      Weights w(z, &rng);
      TestMat x = RandomMat(z.rows, z.s * z.kin, 1, &rng, -1.5f, 1.5f);
      TestMat dy = RandomMat(z.rows, z.s * z.e(), 2, &rng), y(z.rows, z.s * z.e(), 1);
      auto forward = [&](FieldAttentionCache* c) {
        FieldAttentionForward(x.cview(), z.s, z.h, w.q.cview(), w.k.cview(), w.v.cview(),
                              w.Res(residual), y.view(), c, scale);
      };
      auto loss = [&] {
        FieldAttentionCache c;
        forward(&c);
        return Dot(dy, y);
      };
      FieldAttentionCache cache;
      forward(&cache);
      TestMat dx = RandomMat(z.rows, z.s * z.kin, 2, &rng);
      TestMat dq(z.kin, z.e(), 1), dk(z.kin, z.e(), 0), dv(z.kin, z.e(), 2);
      TestMat dres(z.kin, z.e(), 1);
      auto backward = [&](MatView d, float beta) {
        FieldAttentionBackward(w.q.cview(), w.k.cview(), w.v.cview(), w.Res(residual), cache,
                               dy.cview(), d, beta, dq.view(), dk.view(), dv.view(), dres.view());
      };
      backward(dx.view(), 0.0f);
      const std::string what = "attention " + std::to_string(trial);
      ExpectGradient(what + " x", &x, dx, loss);
      ExpectGradient(what + " w_q", &w.q, dq, loss);
      ExpectGradient(what + " w_k", &w.k, dk, loss);
      ExpectGradient(what + " w_v", &w.v, dv, loss);
      if (residual) {
        ExpectGradient(what + " w_res", &w.res, dres, loss);
      } else {
        for (int64_t c = 0; c < z.kin; ++c) {
          for (int64_t j = 0; j < z.e(); ++j) EXPECT_EQ(dres.at(c, j), 0.0f);
        }
      }
      EXPECT_TRUE(dx.PaddingIntact() && dq.PaddingIntact() && dv.PaddingIntact());
      ExpectAddsWithBetaOne(what + " dx", dx, backward, &rng);
    }
  }
}

TEST(FieldAttentionTest, EmptyBatchLeavesGradientsAlone) {
  Rng rng(3);
  const Sizes z{0, 3, 4, 2, 3};
  Weights w(z, &rng);
  TestMat x(0, z.s * z.kin, 1), y(0, z.s * z.e(), 1), dx(0, z.s * z.kin, 1);
  FieldAttentionCache cache;
  FieldAttentionForward(x.cview(), z.s, z.h, w.q.cview(), w.k.cview(), w.v.cview(), w.Res(true),
                        y.view(), &cache);
  TestMat dq = RandomMat(z.kin, z.e(), 0, &rng), dk(z.kin, z.e(), 0), dv(z.kin, z.e(), 0);
  TestMat dres(z.kin, z.e(), 0);
  const TestMat dq_before = dq;
  FieldAttentionBackward(w.q.cview(), w.k.cview(), w.v.cview(), w.Res(true), cache, y.cview(),
                         dx.view(), 0.0f, dq.view(), dk.view(), dv.view(), dres.view());
  EXPECT_TRUE(dq.SameBits(dq_before));
}

TEST(FieldAttentionTest, SameBitsRunToRunAndCloseAcrossThreadCounts) {
  Rng rng(4);
  const Sizes z{400, 10, 16, 2, 16};
  Weights w(z, &rng);
  TestMat x = RandomMat(z.rows, z.s * z.kin, 0, &rng), dy = RandomMat(z.rows, z.s * z.e(), 0, &rng);
  testing::ExpectStableAcrossThreadCounts("field_attention", [&] {
    TestMat y(z.rows, z.s * z.e(), 0), dx(z.rows, z.s * z.kin, 0);
    TestMat dq(z.kin, z.e(), 0), dk(z.kin, z.e(), 0), dv(z.kin, z.e(), 0), dres(z.kin, z.e(), 0);
    FieldAttentionCache cache;
    FieldAttentionForward(x.cview(), z.s, z.h, w.q.cview(), w.k.cview(), w.v.cview(), w.Res(true),
                          y.view(), &cache);
    FieldAttentionBackward(w.q.cview(), w.k.cview(), w.v.cview(), w.Res(true), cache, dy.cview(),
                           dx.view(), 0.0f, dq.view(), dk.view(), dv.view(), dres.view());
    return std::vector<TestMat>{y, dx, dq, dk, dv, dres};
  });
}

}  // namespace
}  // namespace moerec
