#include "core/norm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "core/internal/test_util.h"
#include "core/parallel.h"
#include "core/random.h"

namespace moerec {
namespace {

using testing::Dot;
using testing::ExpectGradient;
using testing::RandomMat;
using testing::TestMat;

TEST(LayerNormTest, ForwardMatchesDirectFormula) {
  Rng rng(1);
  TestMat x = RandomMat(5, 37, 3, &rng, -3.0f, 2.0f), y(5, 37, 2);
  TestMat gamma = RandomMat(1, 37, 0, &rng), beta = RandomMat(1, 37, 0, &rng);
  LayerNormCache cache;
  LayerNormForward(x.cview(), gamma.data(), beta.data(), 1e-5f, y.view(), &cache);
  for (int64_t r = 0; r < 5; ++r) {
    double mean = 0.0, var = 0.0;
    for (int64_t c = 0; c < 37; ++c) mean += x.at(r, c) / 37.0;
    for (int64_t c = 0; c < 37; ++c) var += (x.at(r, c) - mean) * (x.at(r, c) - mean) / 37.0;
    for (int64_t c = 0; c < 37; ++c) {
      const double want =
          (x.at(r, c) - mean) / std::sqrt(var + 1e-5) * gamma.at(0, c) + beta.at(0, c);
      EXPECT_NEAR(y.at(r, c), want, 1e-5);
    }
  }
  EXPECT_TRUE(y.PaddingIntact());
}

TEST(LayerNormTest, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  for (int trial = 0; trial < 5; ++trial) {
    const int64_t rows = 1 + rng.Below(6), cols = 2 + rng.Below(30);
    TestMat x = RandomMat(rows, cols, rng.Below(4), &rng, -2.0f, 2.0f), y(rows, cols, 1);
    TestMat gamma = RandomMat(1, cols, 0, &rng, 0.5f, 1.5f), beta = RandomMat(1, cols, 0, &rng);
    TestMat dy = RandomMat(rows, cols, rng.Below(4), &rng);
    LayerNormCache cache;
    auto loss = [&] {
      LayerNormCache c;
      LayerNormForward(x.cview(), gamma.data(), beta.data(), 1e-5f, y.view(), &c);
      return Dot(dy, y);
    };
    LayerNormForward(x.cview(), gamma.data(), beta.data(), 1e-5f, y.view(), &cache);
    TestMat dx(rows, cols, 2), dgamma(1, cols, 0), dbeta(1, cols, 0);
    LayerNormBackward(x.cview(), gamma.data(), cache, dy.cview(), dx.view(), dgamma.data(),
                      dbeta.data());
    ExpectGradient("layernorm x", &x, dx, loss);
    ExpectGradient("layernorm gamma", &gamma, dgamma, loss);
    ExpectGradient("layernorm beta", &beta, dbeta, loss);
    EXPECT_TRUE(dx.PaddingIntact());
  }
}

TEST(LayerNormTest, IsTheSameForAnyThreadCount) {
  Rng rng(3);
  TestMat x = RandomMat(500, 256, 4, &rng), dy = RandomMat(500, 256, 0, &rng);
  TestMat gamma = RandomMat(1, 256, 0, &rng), beta = RandomMat(1, 256, 0, &rng);
  TestMat y[2] = {TestMat(500, 256, 0), TestMat(500, 256, 0)};
  TestMat dx[2] = {TestMat(500, 256, 0), TestMat(500, 256, 0)};
  std::vector<float> dg[2], db[2];
  for (int t = 0; t < 2; ++t) {
    SetComputeThreads(t + 1);
    LayerNormCache cache;
    dg[t].assign(256, 0.0f);
    db[t].assign(256, 0.0f);
    LayerNormForward(x.cview(), gamma.data(), beta.data(), 1e-5f, y[t].view(), &cache);
    LayerNormBackward(x.cview(), gamma.data(), cache, dy.cview(), dx[t].view(), dg[t].data(),
                      db[t].data());
  }
  EXPECT_TRUE(y[0].SameBits(y[1]));
  EXPECT_TRUE(dx[0].SameBits(dx[1]));
  EXPECT_EQ(dg[0], dg[1]);
  EXPECT_EQ(db[0], db[1]);
}

// Rows of 4 groups: group 0 has several rows, group 1 exactly one, group 2 none, group 3 the
// rest; rows interleave groups.
std::vector<int32_t> Groups(int64_t rows) {
  std::vector<int32_t> g(rows);
  for (int64_t r = 0; r < rows; ++r) g[r] = (r % 2 == 0) ? 0 : 3;
  g[rows / 2] = 1;
  return g;
}

TEST(GroupBatchNormTest, TrainingForwardUsesPerGroupBatchStatistics) {
  Rng rng(4);
  const int64_t rows = 11, cols = 6;
  const int groups = 4;
  const std::vector<int32_t> group = Groups(rows);
  TestMat x = RandomMat(rows, cols, 2, &rng, -2.0f, 3.0f), y(rows, cols, 1);
  TestMat gamma = RandomMat(groups, cols, 0, &rng), beta = RandomMat(groups, cols, 0, &rng);
  GroupBatchNormState state;
  state.Init(groups, cols);
  TestMat rm0 = RandomMat(groups, cols, 0, &rng), rv0 = RandomMat(groups, cols, 0, &rng, 0.5f, 2);
  std::copy(rm0.data(), rm0.data() + groups * cols, state.running_mean.data());
  std::copy(rv0.data(), rv0.data() + groups * cols, state.running_var.data());
  const float eps = 1e-3f, momentum = 0.1f;
  GroupBatchNormCache cache;
  GroupBatchNormForward(x.cview(), group.data(), gamma.data(), beta.data(), eps, momentum, true,
                        &state, y.view(), &cache);
  for (int g = 0; g < groups; ++g) {
    for (int64_t c = 0; c < cols; ++c) {
      double n = 0, mean = 0, var = 0;
      for (int64_t r = 0; r < rows; ++r) {
        if (group[r] == g) n += 1, mean += x.at(r, c);
      }
      if (n == 0) {  // absent group: running statistics untouched
        EXPECT_EQ(state.running_mean[g * cols + c], rm0.at(g, c));
        EXPECT_EQ(state.running_var[g * cols + c], rv0.at(g, c));
        continue;
      }
      mean /= n;
      for (int64_t r = 0; r < rows; ++r) {
        if (group[r] == g) var += (x.at(r, c) - mean) * (x.at(r, c) - mean) / n;
      }
      for (int64_t r = 0; r < rows; ++r) {
        if (group[r] != g) continue;
        const double want =
            (x.at(r, c) - mean) / std::sqrt(var + eps) * gamma.at(g, c) + beta.at(g, c);
        EXPECT_NEAR(y.at(r, c), want, 1e-5);
        if (n == 1) {
          EXPECT_EQ(y.at(r, c), beta.at(g, c));
        }
      }
      EXPECT_NEAR(state.running_mean[g * cols + c], 0.9 * rm0.at(g, c) + 0.1 * mean, 1e-6);
      const double want_var = n > 1 ? 0.9 * rv0.at(g, c) + 0.1 * var * n / (n - 1) : rv0.at(g, c);
      EXPECT_NEAR(state.running_var[g * cols + c], want_var, 1e-6);
    }
  }
  EXPECT_TRUE(y.PaddingIntact());
}

// Sums arrays over `n` threads in place: each caller adds its array and gets the total once
// every thread has added (a stand-in for the workers' all-reduce).
class ThreadSum {
 public:
  explicit ThreadSum(int n) : n_(n) {}
  void Sum(double* data, int64_t size) {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t generation = generation_;
    if (arrived_ == 0) total_.assign(size, 0.0);
    for (int64_t i = 0; i < size; ++i) total_[i] += data[i];
    if (++arrived_ == n_) {
      result_ = total_;
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
    std::copy(result_.begin(), result_.end(), data);
  }

 private:
  const int n_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  int64_t generation_ = 0;
  std::vector<double> total_, result_;
};

TEST(GroupBatchNormTest, SynchronisedPartsGiveTheWholeBatch) {
  Rng rng(9);
  const int64_t rows = 11, cols = 5;
  const int groups = 4;
  const std::vector<int32_t> group = Groups(rows);
  TestMat x = RandomMat(rows, cols, 0, &rng, -2.0f, 3.0f), dy = RandomMat(rows, cols, 0, &rng);
  TestMat gamma = RandomMat(groups, cols, 0, &rng), beta = RandomMat(groups, cols, 0, &rng);
  const float eps = 1e-3f, momentum = 0.2f;
  // The whole batch in one call.
  GroupBatchNormState whole;
  whole.Init(groups, cols);
  TestMat y(rows, cols, 0), dx(rows, cols, 0);
  std::vector<float> dgamma(groups * cols, 0.0f), dbeta(groups * cols, 0.0f);
  GroupBatchNormCache cache;
  GroupBatchNormForward(x.cview(), group.data(), gamma.data(), beta.data(), eps, momentum, true,
                        &whole, y.view(), &cache);
  GroupBatchNormBackward(x.cview(), group.data(), gamma.data(), cache, dy.cview(), dx.view(),
                         dgamma.data(), dbeta.data());
  // Three workers' parts of it, one of them empty, each in its own thread.
  const std::vector<std::pair<int64_t, int64_t>> parts = {{0, 4}, {4, 0}, {4, 7}};
  ThreadSum summer(3);
  const GroupSum sum = [&](double* data, int64_t n) { summer.Sum(data, n); };
  std::vector<GroupBatchNormState> states(3);
  std::vector<TestMat> ys, dxs;
  std::vector<std::vector<float>> dgammas(3, std::vector<float>(groups * cols, 0.0f));
  std::vector<std::vector<float>> dbetas = dgammas;
  for (const auto& [begin, n] : parts) {
    ys.emplace_back(std::max<int64_t>(n, 1), cols, 0);
    dxs.emplace_back(std::max<int64_t>(n, 1), cols, 0);
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < 3; ++w) {
    threads.emplace_back([&, w] {
      const auto [begin, n] = parts[w];
      states[w].Init(groups, cols);
      GroupBatchNormCache part;
      const ConstMatView xp = x.cview().Rows(begin, n);
      GroupBatchNormForward(xp, group.data() + begin, groups, gamma.data(), beta.data(), eps,
                            momentum, true, states[w].running_mean.data(),
                            states[w].running_var.data(), ys[w].view().Rows(0, n), &part, &sum);
      GroupBatchNormBackward(xp, group.data() + begin, gamma.data(), part,
                             dy.cview().Rows(begin, n), dxs[w].view().Rows(0, n), dgammas[w].data(),
                             dbetas[w].data(), &sum);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int w = 0; w < 3; ++w) {
    const auto [begin, n] = parts[w];
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        EXPECT_NEAR(ys[w].at(r, c), y.at(begin + r, c), 1e-5) << w << " " << r << " " << c;
        EXPECT_NEAR(dxs[w].at(r, c), dx.at(begin + r, c), 1e-5) << w << " " << r << " " << c;
      }
    }
    for (int64_t i = 0; i < groups * cols; ++i) {
      EXPECT_NEAR(states[w].running_mean[i], whole.running_mean[i], 1e-6) << w << " " << i;
      EXPECT_NEAR(states[w].running_var[i], whole.running_var[i], 1e-6) << w << " " << i;
    }
  }
  // The parameter gradients are each worker's part: their sum is the whole batch's.
  for (int64_t i = 0; i < groups * cols; ++i) {
    EXPECT_NEAR(dgammas[0][i] + dgammas[1][i] + dgammas[2][i], dgamma[i], 1e-5) << i;
    EXPECT_NEAR(dbetas[0][i] + dbetas[1][i] + dbetas[2][i], dbeta[i], 1e-5) << i;
  }
}

TEST(GroupBatchNormTest, TrainingBackwardMatchesFiniteDifferences) {
  Rng rng(5);
  for (int trial = 0; trial < 4; ++trial) {
    const int64_t rows = 7 + rng.Below(6), cols = 1 + rng.Below(20);
    const int groups = 4;
    const std::vector<int32_t> group = Groups(rows);
    TestMat x = RandomMat(rows, cols, rng.Below(3), &rng, -2.0f, 2.0f), y(rows, cols, 2);
    TestMat gamma = RandomMat(groups, cols, 0, &rng, 0.5f, 1.5f);
    TestMat beta = RandomMat(groups, cols, 0, &rng);
    TestMat dy = RandomMat(rows, cols, 1, &rng);
    GroupBatchNormState state;
    state.Init(groups, cols);
    auto loss = [&] {
      GroupBatchNormState s = state;
      GroupBatchNormCache c;
      GroupBatchNormForward(x.cview(), group.data(), gamma.data(), beta.data(), 1e-3f, 0.1f, true,
                            &s, y.view(), &c);
      return Dot(dy, y);
    };
    GroupBatchNormCache cache;
    GroupBatchNormForward(x.cview(), group.data(), gamma.data(), beta.data(), 1e-3f, 0.1f, true,
                          &state, y.view(), &cache);
    TestMat dx = RandomMat(rows, cols, 3, &rng), dgamma(groups, cols, 0), dbeta(groups, cols, 0);
    GroupBatchNormBackward(x.cview(), group.data(), gamma.data(), cache, dy.cview(), dx.view(),
                           dgamma.data(), dbeta.data());
    ExpectGradient("batchnorm x", &x, dx, loss);
    ExpectGradient("batchnorm gamma", &gamma, dgamma, loss);
    ExpectGradient("batchnorm beta", &beta, dbeta, loss);
    for (int64_t c = 0; c < cols; ++c) {
      EXPECT_EQ(dx.at(rows / 2, c), 0.0f);  // the one-row group's output is beta
      EXPECT_EQ(dgamma.at(2, c), 0.0f);     // the absent group
      EXPECT_EQ(dbeta.at(2, c), 0.0f);
    }
    EXPECT_TRUE(dx.PaddingIntact());
  }
}

TEST(GroupBatchNormTest, EvalUsesRunningStatisticsAndMatchesFiniteDifferences) {
  Rng rng(6);
  const int64_t rows = 9, cols = 13;
  const int groups = 4;
  const std::vector<int32_t> group = Groups(rows);
  TestMat x = RandomMat(rows, cols, 1, &rng, -2.0f, 2.0f), y(rows, cols, 3);
  TestMat gamma = RandomMat(groups, cols, 0, &rng), beta = RandomMat(groups, cols, 0, &rng);
  TestMat rm = RandomMat(groups, cols, 0, &rng), rv = RandomMat(groups, cols, 0, &rng, 0.5f, 2);
  const TestMat rm0 = rm, rv0 = rv;
  TestMat dy = RandomMat(rows, cols, 2, &rng);
  auto loss = [&] {
    GroupBatchNormCache c;
    GroupBatchNormForward(x.cview(), group.data(), groups, gamma.data(), beta.data(), 1e-3f, 0.1f,
                          false, rm.data(), rv.data(), y.view(), &c);
    return Dot(dy, y);
  };
  loss();
  EXPECT_TRUE(rm.SameBits(rm0) && rv.SameBits(rv0));  // eval leaves them alone
  for (int64_t r = 0; r < rows; ++r) {
    const int g = group[r];
    for (int64_t c = 0; c < cols; ++c) {
      const double want =
          (x.at(r, c) - rm.at(g, c)) / std::sqrt(rv.at(g, c) + 1e-3) * gamma.at(g, c) +
          beta.at(g, c);
      EXPECT_NEAR(y.at(r, c), want, 1e-5);
    }
  }
  GroupBatchNormCache cache;
  GroupBatchNormForward(x.cview(), group.data(), groups, gamma.data(), beta.data(), 1e-3f, 0.1f,
                        false, rm.data(), rv.data(), y.view(), &cache);
  TestMat dx(rows, cols, 1), dgamma(groups, cols, 0), dbeta(groups, cols, 0);
  GroupBatchNormBackward(x.cview(), group.data(), gamma.data(), cache, dy.cview(), dx.view(),
                         dgamma.data(), dbeta.data());
  ExpectGradient("eval batchnorm x", &x, dx, loss);
  ExpectGradient("eval batchnorm gamma", &gamma, dgamma, loss);
  ExpectGradient("eval batchnorm beta", &beta, dbeta, loss);
}

TEST(GroupBatchNormTest, PointerOverloadMatchesStateAndIsTheSameForAnyThreadCount) {
  Rng rng(7);
  const int64_t rows = 600, cols = 150;
  const int groups = 3;
  std::vector<int32_t> group(rows);
  for (auto& g : group) g = static_cast<int32_t>(rng.Below(groups));
  TestMat x = RandomMat(rows, cols, 2, &rng), dy = RandomMat(rows, cols, 0, &rng);
  TestMat gamma = RandomMat(groups, cols, 0, &rng), beta = RandomMat(groups, cols, 0, &rng);
  TestMat y[2] = {TestMat(rows, cols, 0), TestMat(rows, cols, 0)};
  TestMat dx[2] = {TestMat(rows, cols, 0), TestMat(rows, cols, 0)};
  TestMat dg[2] = {TestMat(groups, cols, 0), TestMat(groups, cols, 0)};
  TestMat db[2] = {TestMat(groups, cols, 0), TestMat(groups, cols, 0)};
  GroupBatchNormState state;
  state.Init(groups, cols);
  Tensor rm({groups, cols}), rv({groups, cols});
  rm.Zero();
  rv.Fill(1.0f);
  for (int t = 0; t < 2; ++t) {
    SetComputeThreads(t + 1);
    GroupBatchNormCache cache;
    if (t == 0) {
      GroupBatchNormForward(x.cview(), group.data(), gamma.data(), beta.data(), 1e-5f, 0.2f, true,
                            &state, y[t].view(), &cache);
    } else {
      GroupBatchNormForward(x.cview(), group.data(), groups, gamma.data(), beta.data(), 1e-5f, 0.2f,
                            true, rm.data(), rv.data(), y[t].view(), &cache);
    }
    GroupBatchNormBackward(x.cview(), group.data(), gamma.data(), cache, dy.cview(), dx[t].view(),
                           dg[t].data(), db[t].data());
  }
  SetComputeThreads(2);
  EXPECT_TRUE(y[0].SameBits(y[1]));
  EXPECT_TRUE(dx[0].SameBits(dx[1]));
  EXPECT_TRUE(dg[0].SameBits(dg[1]));
  EXPECT_TRUE(db[0].SameBits(db[1]));
  for (int64_t i = 0; i < groups * cols; ++i) {
    ASSERT_EQ(rm[i], state.running_mean[i]);
    ASSERT_EQ(rv[i], state.running_var[i]);
  }
}

TEST(L2NormalizeTest, UnitRowsAndBackwardMatchesFiniteDifferences) {
  Rng rng(9);
  const int64_t b = 4, c = 5;
  std::vector<float> x(b * c), y(b * c), dy(b * c), dx(b * c);
  for (auto& v : x) v = static_cast<float>(rng.Uniform() * 2.0 - 1.0);
  for (auto& v : dy) v = static_cast<float>(rng.Uniform() * 2.0 - 1.0);
  for (int64_t k = 0; k < c; ++k) x[3 * c + k] = 1e-9f;  // below eps: a plain scaling
  const float eps = 1e-6f;
  Tensor rnorm;
  L2NormalizeForward(ConstMatView(x.data(), b, c, c), eps, MatView{y.data(), b, c, c}, &rnorm);
  for (int64_t r = 0; r < 3; ++r) {
    double ss = 0;
    for (int64_t k = 0; k < c; ++k) ss += y[r * c + k] * y[r * c + k];
    EXPECT_NEAR(ss, 1.0, 1e-6);
  }
  L2NormalizeBackward(ConstMatView(y.data(), b, c, c), rnorm, eps, ConstMatView(dy.data(), b, c, c),
                      MatView{dx.data(), b, c, c});
  auto objective = [&](const std::vector<float>& xv) {
    double total = 0;
    for (int64_t r = 0; r < b; ++r) {
      double ss = 0;
      for (int64_t k = 0; k < c; ++k) ss += static_cast<double>(xv[r * c + k]) * xv[r * c + k];
      const double n = std::max(std::sqrt(ss), static_cast<double>(eps));
      for (int64_t k = 0; k < c; ++k) total += dy[r * c + k] * xv[r * c + k] / n;
    }
    return total;
  };
  for (int64_t k = 0; k < 3 * c; ++k) {
    std::vector<float> xp = x, xm = x;
    xp[k] += 1e-3f;
    xm[k] -= 1e-3f;
    EXPECT_NEAR(dx[k], (objective(xp) - objective(xm)) / 2e-3, 2e-3) << k;
  }
  for (int64_t k = 3 * c; k < b * c; ++k) EXPECT_FLOAT_EQ(dx[k], dy[k] / eps);
}

}  // namespace
}  // namespace moerec
