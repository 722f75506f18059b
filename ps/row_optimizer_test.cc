#include "ps/row_optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/random.h"

namespace moerec {
namespace {

constexpr int kDim = 5;
constexpr int kSteps = 7;

std::vector<std::vector<double>> RandomGrads(uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<double>> g(kSteps, std::vector<double>(kDim));
  for (auto& step : g) {
    for (double& v : step) v = rng.Normal() * 0.3;
  }
  return g;
}

// Runs the optimizer for kSteps from w0 and returns the final weights.
std::vector<float> RunSteps(const RowOptimizerConfig& config, const std::vector<double>& w0,
                            const std::vector<std::vector<double>>& grads) {
  auto opt = RowOptimizer::Create(config);
  std::vector<float> w(w0.begin(), w0.end());
  std::vector<float> state(opt->StateFloats(kDim));
  opt->InitState(kDim, state.data());
  for (int t = 0; t < kSteps; ++t) {
    std::vector<float> g(grads[t].begin(), grads[t].end());
    opt->Update(kDim, g.data(), t + 1, w.data(), state.data());
  }
  return w;
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t j = 0; j < got.size(); ++j) {
    EXPECT_NEAR(got[j], want[j], 1e-5 * (1 + std::fabs(want[j]))) << "coordinate " << j;
  }
}

const std::vector<double> kW0 = {0.1, -0.2, 0.0, 0.05, 0.3};

TEST(RowOptimizerTest, Sgd) {
  RowOptimizerConfig c;
  c.set_type(RowOptimizerConfig::SGD);
  c.set_learning_rate(0.1f);
  const auto g = RandomGrads(1);
  std::vector<double> w = kW0;
  for (const auto& step : g) {
    for (int j = 0; j < kDim; ++j) w[j] -= 0.1 * step[j];
  }
  ExpectNear(RunSteps(c, kW0, g), w);
}

TEST(RowOptimizerTest, AdagradMatchesTorchDefinition) {
  RowOptimizerConfig c;
  c.set_type(RowOptimizerConfig::ADAGRAD);
  c.set_learning_rate(0.05f);
  c.set_initial_accumulator(0.1f);
  c.set_epsilon(1e-10f);
  const auto g = RandomGrads(2);
  std::vector<double> w = kW0, acc(kDim, 0.1);
  for (const auto& step : g) {
    for (int j = 0; j < kDim; ++j) {
      acc[j] += step[j] * step[j];
      w[j] -= 0.05 * step[j] / (std::sqrt(acc[j]) + 1e-10);
    }
  }
  ExpectNear(RunSteps(c, kW0, g), w);
}

TEST(RowOptimizerTest, AdamUsesThePerRowStepForBiasCorrection) {
  RowOptimizerConfig c;
  c.set_type(RowOptimizerConfig::ADAM);
  c.set_learning_rate(0.01f);
  c.set_beta1(0.8f);
  c.set_beta2(0.95f);
  c.set_epsilon(1e-6f);
  const auto g = RandomGrads(3);
  std::vector<double> w = kW0, m(kDim, 0), v(kDim, 0);
  for (int t = 1; t <= kSteps; ++t) {
    for (int j = 0; j < kDim; ++j) {
      const double gj = g[t - 1][j];
      m[j] = 0.8 * m[j] + 0.2 * gj;
      v[j] = 0.95 * v[j] + 0.05 * gj * gj;
      const double mhat = m[j] / (1 - std::pow(0.8, t));
      const double vhat = v[j] / (1 - std::pow(0.95, t));
      w[j] -= 0.01 * mhat / (std::sqrt(vhat) + 1e-6);
    }
  }
  ExpectNear(RunSteps(c, kW0, g), w);
}

TEST(RowOptimizerTest, FtrlProximalWithL1ZeroesSmallCoordinates) {
  RowOptimizerConfig c;
  c.set_type(RowOptimizerConfig::FTRL);
  c.set_learning_rate(0.1f);
  c.set_l1(0.05f);
  c.set_l2(0.01f);
  c.set_beta(1.0f);
  const auto g = RandomGrads(4);
  std::vector<double> w = kW0, z(kDim, 0), n(kDim, 0);
  for (const auto& step : g) {
    for (int j = 0; j < kDim; ++j) {
      const double n_new = n[j] + step[j] * step[j];
      const double sigma = (std::sqrt(n_new) - std::sqrt(n[j])) / 0.1;
      z[j] += step[j] - sigma * w[j];
      n[j] = n_new;
      w[j] = std::fabs(z[j]) <= 0.05
                 ? 0.0
                 : -(z[j] - (z[j] > 0 ? 0.05 : -0.05)) / ((1.0 + std::sqrt(n[j])) / 0.1 + 0.01);
    }
  }
  const std::vector<float> got = RunSteps(c, kW0, g);
  ExpectNear(got, w);
  // A coordinate whose accumulated z stays inside the L1 band is exactly zero.
  std::vector<std::vector<double>> tiny(kSteps, std::vector<double>(kDim, 1e-4));
  for (float v : RunSteps(c, std::vector<double>(kDim, 0.0), tiny)) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace moerec
