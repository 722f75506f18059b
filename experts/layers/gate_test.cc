#include "experts/layers/gate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

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

// Per (domain, task): the mean over the domain's rows of the task's view; one view serves every
// task; a domain without rows has no cell.
TEST(DomainTaskLoadStatsTest, MeansOverEachDomainsRowsOfTheTasksView) {
  // Rows 0-1 domain 0, none of domain 1, rows 2-4 domain 2; two experts.
  const std::vector<int64_t> begin = {0, 2, 2, 5};
  Tensor task0({5, 2}), task1({5, 2});
  for (int64_t r = 0; r < 5; ++r) {
    task0.at(r, 0) = 0.1f * static_cast<float>(r);
    task0.at(r, 1) = 1.0f - task0.at(r, 0);
    task1.at(r, 0) = 0.5f;
    task1.at(r, 1) = 0.5f;
  }
  std::map<std::string, double> load;
  for (const auto& [name, value] : DomainTaskLoadStats({task0.view(), task1.view()}, begin, 2)) {
    load[name] = value;
  }
  EXPECT_EQ(load.size(), 8u);  // 2 domains x 2 tasks x 2 experts
  EXPECT_NEAR(load.at("expert_load/0/0.0"), 0.05, 1e-7);
  EXPECT_NEAR(load.at("expert_load/0/0.1"), 0.95, 1e-7);
  EXPECT_NEAR(load.at("expert_load/2/0.0"), 0.3, 1e-7);
  EXPECT_NEAR(load.at("expert_load/2/1.1"), 0.5, 1e-7);
  EXPECT_EQ(load.count("expert_load/1/0.0"), 0u);
  const auto shared = DomainTaskLoadStats({task0.view()}, begin, 2);
  ASSERT_EQ(shared.size(), 8u);
  for (const auto& [name, value] : shared) {
    EXPECT_NEAR(value, load.at("expert_load/" + name.substr(12, 2) + "0" + name.substr(15)), 1e-7)
        << name;
  }
}

}  // namespace
}  // namespace moerec
