#include "experts/layers/gate.h"

#include <gtest/gtest.h>

#include <cmath>

#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::Dot;

constexpr int kDomains = 3, kTasks = 2, kExperts = 3, kInput = 5;
// Domain 1 is empty.
const std::vector<int64_t> kDomainBegin = {0, 4, 4, 9};

class GateTest : public ::testing::TestWithParam<HeadIndex> {};

TEST_P(GateTest, MatchesPerRowSoftmax) {
  ParameterSet params;
  SoftmaxGates gates(GetParam(), kDomains, kTasks, kInput, kExperts, "g", &params, 3);
  EXPECT_EQ(gates.streams(), GetParam() == BY_DOMAIN ? 1 : kTasks);
  Rng rng(1);
  Tensor x({9, kInput});
  testing::FillNormal(&x, &rng);
  GateCache cache;
  const ConstMatView probs = gates.Forward(x.view(), kDomainBegin, &cache);
  const Tensor& w = params.Find("g.w")->value;
  const int64_t width = static_cast<int64_t>(gates.streams()) * kExperts;
  for (int d = 0; d < kDomains; ++d) {
    for (int64_t r = kDomainBegin[d]; r < kDomainBegin[d + 1]; ++r) {
      const float* slab = w.data() + (GetParam() == BY_TASK ? 0 : d * kInput * width);
      for (int s = 0; s < gates.streams(); ++s) {
        double logits[kExperts], sum = 0.0;
        for (int e = 0; e < kExperts; ++e) {
          logits[e] = 0.0;
          for (int i = 0; i < kInput; ++i)
            logits[e] += x.at(r, i) * slab[i * width + s * kExperts + e];
          sum += std::exp(logits[e]);
        }
        for (int e = 0; e < kExperts; ++e) {
          EXPECT_NEAR(probs.row(r)[s * kExperts + e], std::exp(logits[e]) / sum, 1e-5);
        }
      }
    }
  }
}

TEST_P(GateTest, Gradients) {
  ParameterSet params;
  SoftmaxGates gates(GetParam(), kDomains, kTasks, kInput, kExperts, "g", &params, 3);
  Rng rng(2);
  Tensor x({9, kInput}), dx({9, kInput});
  testing::FillNormal(&x, &rng);
  Tensor r({9, gates.streams() * kExperts});
  testing::FillNormal(&r, &rng);
  GateCache cache;
  auto loss = [&] { return Dot(gates.Forward(x.view(), kDomainBegin, &cache), r); };
  loss();
  gates.Backward(x.view(), kDomainBegin, r.view(), dx.view(), 0.0f, &cache);
  testing::ExpectParameterGradients(&params, loss, 1);
  testing::ExpectGradientMatches(x.data(), dx.data(), x.size(), loss, "dx", 2);
  if (GetParam() != BY_TASK) {
    // The empty domain's slab gets nothing.
    const Tensor& g = params.Find("g.w")->grad;
    const int64_t slab = kInput * gates.streams() * kExperts;
    for (int64_t i = slab; i < 2 * slab; ++i) EXPECT_EQ(g[i], 0.0f);
  }
}

INSTANTIATE_TEST_SUITE_P(Indexings, GateTest,
                         ::testing::Values(BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK));

TEST(HeadsTest, Layout) {
  EXPECT_EQ(NumHeads(BY_TASK, 3, 2), 2);
  EXPECT_EQ(NumHeads(BY_DOMAIN, 3, 2), 3);
  EXPECT_EQ(NumHeads(BY_DOMAIN_TASK, 3, 2), 6);
  EXPECT_EQ(HeadFor(BY_TASK, 2, 2, 1), 1);
  EXPECT_EQ(HeadFor(BY_DOMAIN, 2, 2, 1), 2);
  EXPECT_EQ(HeadFor(BY_DOMAIN_TASK, 2, 2, 1), 5);
  EXPECT_EQ(DomainRows(kDomainBegin, -1).size(), 9);
  EXPECT_EQ(DomainRows(kDomainBegin, 1).size(), 0);
  EXPECT_EQ(DomainRows(kDomainBegin, 2).begin, 4);
}

}  // namespace
}  // namespace moerec
