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

}  // namespace
}  // namespace moerec
