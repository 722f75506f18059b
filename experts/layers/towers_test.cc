#include "experts/layers/towers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "core/parallel.h"
#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::Dot;

constexpr int kDomains = 3, kTasks = 2, kWidth = 3, kHidden = 4;
const std::vector<int64_t> kDomainBegin = {0, 4, 4, 9};  // domain 1 is empty

int DomainOf(int64_t row) {
  for (int d = 0; d < kDomains; ++d) {
    if (row < kDomainBegin[d + 1]) return d;
  }
  return -1;
}

class TowersTest : public ::testing::TestWithParam<std::tuple<HeadIndex, int>> {};

TEST_P(TowersTest, MatchesPerRowReference) {
  const auto [index, streams] = GetParam();
  MlpConfig hidden;
  hidden.add_dims(kHidden);
  ParameterSet params;
  Towers towers(hidden, index, kDomains, kTasks, kWidth, streams, "t", &params, 5);
  EXPECT_EQ(towers.num_heads(), NumHeads(index, kDomains, kTasks));
  Rng rng(1);
  Tensor z({9, streams * kWidth}), logits({9, kTasks});
  testing::FillNormal(&z, &rng);
  towers.Forward(z.view(), kDomainBegin, false, 0, logits.view());
  for (int64_t i = 0; i < 9; ++i) {
    for (int t = 0; t < kTasks; ++t) {
      const int head = HeadFor(index, kTasks, DomainOf(i), t);
      const std::string p = "t." + std::to_string(head);
      const Tensor& w0 = params.Find(p + ".hidden.0.w")->value;
      const Tensor& b0 = params.Find(p + ".hidden.0.b")->value;
      const Tensor& w1 = params.Find(p + ".out.w")->value;
      const Tensor& b1 = params.Find(p + ".out.b")->value;
      const int col = index == BY_DOMAIN ? t : 0;
      const float* in = z.data() + i * streams * kWidth + (streams == 1 ? 0 : t * kWidth);
      double y = b1[col];
      for (int k = 0; k < kHidden; ++k) {
        double a = b0[k];
        for (int j = 0; j < kWidth; ++j) a += in[j] * w0.at(j, k);
        y += std::max(a, 0.0) * w1.at(k, col);
      }
      EXPECT_NEAR(logits.at(i, t), y, 1e-5) << "row " << i << " task " << t;
    }
  }
}

TEST_P(TowersTest, Gradients) {
  const auto [index, streams] = GetParam();
  MlpConfig hidden;
  hidden.add_dims(kHidden);
  hidden.set_activation(ACT_PRELU);
  hidden.set_layer_norm(true);
  ParameterSet params;
  Towers towers(hidden, index, kDomains, kTasks, kWidth, streams, "t", &params, 5);
  Rng rng(2);
  Tensor z({9, streams * kWidth}), logits({9, kTasks}), r({9, kTasks}), dz({9, streams * kWidth});
  testing::FillNormal(&z, &rng);
  testing::FillNormal(&r, &rng);
  dz.Fill(123.0f);  // must be overwritten
  auto loss = [&] {
    towers.Forward(z.view(), kDomainBegin, true, 4, logits.view());
    return Dot(logits.view(), r);
  };
  loss();
  towers.Backward(z.view(), kDomainBegin, r.view(), dz.view());
  std::vector<std::string> zero;  // heads of the empty domain
  if (PerDomain(index)) {
    for (int t = 0; t < (index == BY_DOMAIN ? 1 : kTasks); ++t) {
      const std::string p = "t." + std::to_string(HeadFor(index, kTasks, 1, t));
      for (const char* n : {".hidden.0.w", ".hidden.0.b", ".hidden.0.ln_gamma", ".hidden.0.ln_beta",
                            ".hidden.0.prelu_alpha", ".out.w", ".out.b"}) {
        zero.push_back(p + n);
      }
    }
  }
  testing::ExpectParameterGradients(&params, loss, 1, zero);
  testing::ExpectGradientMatches(z.data(), dz.data(), z.size(), loss, "dz", 2);
}

INSTANTIATE_TEST_SUITE_P(IndexingsAndStreams, TowersTest,
                         ::testing::Combine(::testing::Values(BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK),
                                            ::testing::Values(1, kTasks)));

// Large enough for the towers to run side by side: the thread count does not change results.
TEST(TowersTest, ThreadCountDoesNotChangeResults) {
  const int64_t rows = 1200, width = 32;
  const std::vector<int64_t> begin = {0, 500, 700, rows};
  MlpConfig hidden;
  hidden.add_dims(16);
  hidden.set_dropout(0.2f);
  Rng rng(6);
  Tensor z({rows, kTasks * width}), dlogits({rows, kTasks});  // streams = 1 reads block 0
  testing::FillNormal(&z, &rng);
  testing::FillNormal(&dlogits, &rng);
  const int saved_threads = ComputeThreads();
  for (const auto& [index, streams] : std::vector<std::pair<HeadIndex, int>>{
           {BY_TASK, 1}, {BY_TASK, kTasks}, {BY_DOMAIN, kTasks}, {BY_DOMAIN_TASK, 1}}) {
    std::vector<Tensor> results;
    for (const int threads : {1, 2}) {
      SetComputeThreads(threads);
      ParameterSet params;
      Towers towers(hidden, index, kDomains, kTasks, width, streams, "t", &params, 5);
      Tensor logits({rows, kTasks}), dz({rows, streams * width});
      towers.Forward(z.view(), begin, true, 9, logits.view());
      towers.Backward(z.view(), begin, dlogits.view(), dz.view());
      results.push_back(logits);
      results.push_back(dz);
      for (const auto& p : params.params()) results.push_back(p->grad);
    }
    const size_t half = results.size() / 2;
    for (size_t k = 0; k < half; ++k) {
      ASSERT_EQ(results[k].size(), results[half + k].size());
      for (int64_t i = 0; i < results[k].size(); ++i) {
        ASSERT_NEAR(results[k][i], results[half + k][i], 1e-5f * (1.0f + std::fabs(results[k][i])))
            << "index " << index << " tensor " << k;
      }
    }
  }
  SetComputeThreads(saved_threads);
}

TEST(TowersTest, NoHiddenLayersIsALinearHead) {
  ParameterSet params;
  Towers towers(MlpConfig(), BY_TASK, 1, 2, 3, 1, "t", &params, 1);
  EXPECT_EQ(params.params().size(), 4u);  // two heads, each out.w and out.b
  Rng rng(3);
  Tensor z({5, 3}), logits({5, 2}), r({5, 2}), dz({5, 3});
  testing::FillNormal(&z, &rng);
  testing::FillNormal(&r, &rng);
  const std::vector<int64_t> all = {0, 5};
  auto loss = [&] {
    towers.Forward(z.view(), all, true, 0, logits.view());
    return Dot(logits.view(), r);
  };
  loss();
  towers.Backward(z.view(), all, r.view(), dz.view());
  testing::ExpectParameterGradients(&params, loss, 1);
  testing::ExpectGradientMatches(z.data(), dz.data(), z.size(), loss, "dz", 2);
}

}  // namespace
}  // namespace moerec
