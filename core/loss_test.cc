#include "core/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/random.h"

namespace moerec {
namespace {

// BCE of sigmoid(z) against y from its definition, in long double (fine for |z| <= 30).
double DirectBce(double z, double y) {
  const long double p = 1.0L / (1.0L + std::exp(-static_cast<long double>(z)));
  return static_cast<double>(-(y * std::log(p) + (1 - y) * std::log(1.0L - p)));
}

TEST(MaskedSigmoidBceTest, ValueMatchesDefinitionIncludingSoftLabels) {
  Rng rng(1);
  const int n = 200;
  std::vector<float> z(n), y(n), probs(n);
  for (int i = 0; i < n; ++i) {
    z[i] = static_cast<float>(rng.Uniform() * 60.0 - 30.0);
    y[i] = i % 3 == 0 ? static_cast<float>(rng.Uniform()) : static_cast<float>(i % 2);
  }
  double want = 0.0;
  for (int i = 0; i < n; ++i) want += DirectBce(z[i], y[i]);
  const double got =
      MaskedSigmoidBce(z.data(), y.data(), nullptr, nullptr, n, probs.data(), nullptr);
  EXPECT_NEAR(got, want, 1e-6 * want);
  for (int i = 0; i < n; ++i) {
    EXPECT_NEAR(probs[i], 1.0 / (1.0 + std::exp(-static_cast<double>(z[i]))), 1e-7);
  }
}

TEST(MaskedSigmoidBceTest, ExtremeLogitsStayFiniteAndExact) {
  const std::vector<float> z = {1000.0f, 1000.0f, -1000.0f, -1000.0f, 88.0f, -88.0f, 0.0f};
  const std::vector<float> y = {1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 1.0f};
  const std::vector<double> want = {0.0, 1000.0, 1000.0, 0.0, 88.0, 88.0, std::log(2.0)};
  std::vector<float> probs(z.size()), grad(z.size());
  for (size_t i = 0; i < z.size(); ++i) {
    const double got = MaskedSigmoidBce(&z[i], &y[i], nullptr, nullptr, 1, &probs[i], &grad[i]);
    EXPECT_NEAR(got, want[i], 1e-6 * std::max(1.0, want[i])) << "z = " << z[i];
    EXPECT_TRUE(std::isfinite(grad[i]));
    EXPECT_TRUE(probs[i] >= 0.0f && probs[i] <= 1.0f);
  }
  EXPECT_EQ(grad[0], 0.0f);
  EXPECT_EQ(grad[1], 1.0f);
  EXPECT_EQ(grad[2], -1.0f);
  EXPECT_EQ(grad[3], 0.0f);
}

TEST(MaskedSigmoidBceTest, GradientMatchesFiniteDifferencesWithMaskAndWeight) {
  Rng rng(2);
  const int n = 64;
  std::vector<float> z(n), y(n), w(n), grad(n, 123.0f);
  std::vector<uint8_t> mask(n);
  for (int i = 0; i < n; ++i) {
    z[i] = static_cast<float>(rng.Uniform() * 8.0 - 4.0);
    y[i] = static_cast<float>(rng.Below(2));
    w[i] = static_cast<float>(0.5 + rng.Uniform());
    mask[i] = rng.Below(4) != 0;
  }
  const double total =
      MaskedSigmoidBce(z.data(), y.data(), mask.data(), w.data(), n, nullptr, grad.data());
  double want = 0.0;
  for (int i = 0; i < n; ++i) want += mask[i] ? w[i] * DirectBce(z[i], y[i]) : 0.0;
  EXPECT_NEAR(total, want, 1e-6 * want);
  for (int i = 0; i < n; ++i) {
    const float saved = z[i];
    const float h = 1e-2f;
    z[i] = saved + h;
    const double up =
        MaskedSigmoidBce(z.data(), y.data(), mask.data(), w.data(), n, nullptr, nullptr);
    z[i] = saved - h;
    const double down =
        MaskedSigmoidBce(z.data(), y.data(), mask.data(), w.data(), n, nullptr, nullptr);
    z[i] = saved;
    const double fd = (up - down) / (static_cast<double>(saved + h) - (saved - h));
    EXPECT_NEAR(grad[i], fd, 1e-4) << "element " << i;
    if (!mask[i]) {
      EXPECT_EQ(grad[i], 0.0f);
    }
  }
}

TEST(MaskedSigmoidBceTest, NullMaskMeansAllObservedAndNullWeightMeansOne) {
  const std::vector<float> z = {0.3f, -1.2f, 2.5f}, y = {1.0f, 0.0f, 0.0f};
  const std::vector<float> ones(3, 1.0f);
  const std::vector<uint8_t> all(3, 1);
  std::vector<float> g1(3), g2(3);
  const double a = MaskedSigmoidBce(z.data(), y.data(), nullptr, nullptr, 3, nullptr, g1.data());
  const double b =
      MaskedSigmoidBce(z.data(), y.data(), all.data(), ones.data(), 3, nullptr, g2.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(g1, g2);
}

// Candidate losses against long-double definitions and central differences of those.
// The central difference of f at element k of x, step h.
template <typename F>
double CentralDifference(const std::vector<float>& x, int64_t k, float h, F f) {
  std::vector<float> up = x, down = x;
  up[k] += h;
  down[k] -= h;
  return static_cast<double>(f(up) - f(down)) / (2 * h);
}

long double RefSoftmaxXent(const std::vector<float>& z, int64_t cols, const std::vector<int64_t>& t,
                           const std::vector<uint8_t>& valid) {
  long double total = 0;
  for (size_t q = 0; q < t.size(); ++q) {
    long double sum = 0;
    for (int64_t c = 0; c < cols; ++c) {
      if (valid[q * cols + c]) sum += std::exp(static_cast<long double>(z[q * cols + c]));
    }
    total += std::log(sum) - z[q * cols + t[q]];
  }
  return total;
}

TEST(CandidateSoftmaxXentTest, MatchesDefinitionAndFiniteDifferencesWithExcludedCandidates) {
  Rng rng(3);
  const int64_t q = 7, c = 11;
  std::vector<float> z(q * c), dz(q * c);
  std::vector<int64_t> t(q);
  std::vector<uint8_t> valid(q * c, 1);
  for (auto& v : z) v = static_cast<float>(rng.Uniform() * 8.0 - 4.0);
  for (int64_t r = 0; r < q; ++r) {
    t[r] = (r * 5) % c;
    valid[r * c + (t[r] + 3) % c] = 0;  // a duplicate of the target: left out
  }
  const float w = 0.25f;
  const double got = CandidateSoftmaxXent(ConstMatView(z.data(), q, c, c), t.data(), valid.data(),
                                          w, MatView{dz.data(), q, c, c});
  EXPECT_NEAR(got, w * static_cast<double>(RefSoftmaxXent(z, c, t, valid)), 1e-5);
  for (int64_t k = 0; k < q * c; ++k) {
    const double fd = w * CentralDifference(z, k, 1e-2f, [&](const std::vector<float>& v) {
                        return RefSoftmaxXent(v, c, t, valid);
                      });
    EXPECT_NEAR(dz[k], fd, 1e-4) << k;
    if (!valid[k]) {
      EXPECT_EQ(dz[k], 0.0f);
    }
  }
}

long double RefSoftmaxKl(const std::vector<float>& t, const std::vector<float>& s, int64_t cols,
                         long double tau) {
  long double total = 0;
  for (size_t q = 0; q < t.size() / cols; ++q) {
    long double st = 0, ss = 0;
    for (int64_t c = 0; c < cols; ++c) {
      st += std::exp(t[q * cols + c] / tau);
      ss += std::exp(s[q * cols + c] / tau);
    }
    for (int64_t c = 0; c < cols; ++c) {
      const long double p = std::exp(t[q * cols + c] / tau) / st;
      const long double r = std::exp(s[q * cols + c] / tau) / ss;
      total += p * std::log(p / r);
    }
  }
  return total;
}

TEST(SoftmaxKlTest, MatchesDefinitionAndFiniteDifferences) {
  Rng rng(4);
  const int64_t q = 5, c = 6;
  const float tau = 2.0f, w = 0.5f;
  std::vector<float> t(q * c), s(q * c), ds(q * c);
  for (auto& v : t) v = static_cast<float>(rng.Uniform() * 6.0 - 3.0);
  for (auto& v : s) v = static_cast<float>(rng.Uniform() * 6.0 - 3.0);
  const double got = SoftmaxKl(ConstMatView(t.data(), q, c, c), ConstMatView(s.data(), q, c, c),
                               tau, w, MatView{ds.data(), q, c, c});
  EXPECT_NEAR(got, w * static_cast<double>(RefSoftmaxKl(t, s, c, tau)), 1e-6);
  EXPECT_GT(got, 0.0);
  for (int64_t k = 0; k < q * c; ++k) {
    const double fd = w * CentralDifference(s, k, 1e-2f, [&](const std::vector<float>& v) {
                        return RefSoftmaxKl(t, v, c, tau);
                      });
    EXPECT_NEAR(ds[k], fd, 1e-4) << k;
  }
  // The same distributions: no divergence, no gradient.
  EXPECT_NEAR(SoftmaxKl(ConstMatView(t.data(), q, c, c), ConstMatView(t.data(), q, c, c), tau, w,
                        MatView{ds.data(), q, c, c}),
              0.0, 1e-7);
}

TEST(SigmoidKlTest, MatchesDefinitionAndFiniteDifferences) {
  const std::vector<float> t = {-3.0f, -0.5f, 0.0f, 1.5f, 4.0f, 30.0f};
  const std::vector<float> s = {2.0f, -0.5f, 1.0f, -1.0f, 3.0f, -30.0f};
  const float tau = 1.5f, w = 2.0f;
  auto ref = [&](const std::vector<float>& sv) {
    long double total = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      const long double p = 1.0L / (1.0L + std::exp(-t[i] / static_cast<long double>(tau)));
      const long double r = 1.0L / (1.0L + std::exp(-sv[i] / static_cast<long double>(tau)));
      total += p * std::log(p / r) + (1 - p) * std::log((1 - p) / (1 - r));
    }
    return static_cast<double>(w * total);
  };
  std::vector<float> ds(t.size());
  const double got = SigmoidKl(t.data(), s.data(), t.size(), tau, w, ds.data());
  EXPECT_NEAR(got, ref(s), 1e-6 * ref(s));
  for (size_t k = 0; k < s.size(); ++k) {
    std::vector<float> sp = s, sm = s;
    sp[k] += 1e-2f;
    sm[k] -= 1e-2f;
    EXPECT_NEAR(ds[k], (ref(sp) - ref(sm)) / 2e-2, 1e-4) << k;
  }
}

}  // namespace
}  // namespace moerec
