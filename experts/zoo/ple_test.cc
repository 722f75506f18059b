#include "experts/zoo/ple.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::GateRef;
using testing::MlpRef;
using testing::RandomBatch;
using testing::Vec;

const ModelShape kShape{5, 3, 2};              // F, D, T
const std::vector<int64_t> kRows = {4, 0, 5};  // domain 1 is empty
const std::vector<int> kExpertDims = {6, 4};
// Wide enough that no tower has every hidden unit inactive on a domain's rows.
const std::vector<int> kTowerDims = {6};

ModelConfig PleConfigFor(HeadIndex gate, HeadIndex tower, int levels = 2, int shared = 1) {
  ModelConfig c;
  c.set_domain_embedding_dim(2);
  PleConfig* m = c.mutable_ple();
  m->set_num_levels(levels);
  m->set_experts_per_task(2);
  m->set_shared_experts(shared);
  for (const int d : kExpertDims) m->mutable_expert()->add_dims(d);
  for (const int d : kTowerDims) m->mutable_tower()->add_dims(d);
  m->set_gate_index(gate);
  m->set_tower_index(tower);
  return c;
}

std::unique_ptr<Model> Make(const ModelConfig& c, uint64_t seed = 1) {
  auto model = CreateModel(c, kShape, seed);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

Vec Mix(const Vec& g, const std::vector<Vec>& f) {
  Vec z(f[0].size(), 0.0);
  for (size_t e = 0; e < f.size(); ++e) {
    for (size_t k = 0; k < z.size(); ++k) z[k] += g[e] * f[e][k];
  }
  return z;
}

// PLE computed one sample at a time from the parameters, as docs/models.md writes it.
double ReferenceLogit(const Model& model, const ModelConfig& c, const RandomBatch& b, int64_t i,
                      int t) {
  const ParameterSet& p = model.params();
  const PleConfig& m = c.ple();
  const int d = b.domain[i];
  const bool per_domain = m.gate_index() == BY_DOMAIN;
  const int groups = per_domain ? kShape.num_domains : kShape.num_tasks;
  const int streams = per_domain ? 1 : kShape.num_tasks;
  const int gate_group = m.gate_index() == BY_TASK ? -1 : d;
  const int k = m.experts_per_task(), ks = m.shared_experts();
  const Vec e = testing::InputRef(p, b.features, i, d);
  std::vector<Vec> in(streams, e);
  Vec shared_in = e;
  for (int l = 0; l < m.num_levels(); ++l) {
    const std::string level = "levels." + std::to_string(l);
    // Group g's experts on its stream's input.
    auto group_experts = [&](int g) {
      std::vector<Vec> f;
      const Vec& x = in[per_domain ? 0 : g];
      for (int n = 0; n < k; ++n)
        f.push_back(MlpRef(p, level + ".experts." + std::to_string(g), n, k, kExpertDims, x));
      return f;
    };
    std::vector<Vec> shared;
    for (int n = 0; n < ks; ++n)
      shared.push_back(MlpRef(p, level + ".shared", n, ks, kExpertDims, shared_in));
    std::vector<Vec> out(streams);
    for (int s = 0; s < streams; ++s) {
      std::vector<Vec> f = group_experts(per_domain ? d : s);
      f.insert(f.end(), shared.begin(), shared.end());
      out[s] = Mix(
          GateRef(p, level + ".gates." + std::to_string(s), gate_group, 0, 1, k + ks, in[s]), f);
    }
    if (l + 1 < m.num_levels() && ks > 0) {
      std::vector<Vec> all;
      for (int g = 0; g < groups; ++g) {
        if (per_domain && g != d) continue;
        const std::vector<Vec> f = group_experts(g);
        all.insert(all.end(), f.begin(), f.end());
      }
      all.insert(all.end(), shared.begin(), shared.end());
      const int n = static_cast<int>(all.size());
      shared_in = Mix(GateRef(p, level + ".shared_gate", gate_group, 0, 1, n, shared_in), all);
    }
    in = out;
  }
  const std::string tower =
      "towers." + std::to_string(HeadFor(m.tower_index(), kShape.num_tasks, d, t));
  return testing::TowerRef(p, tower, kTowerDims, in[streams == 1 ? 0 : t],
                           m.tower_index() == BY_DOMAIN ? t : 0);
}

class PleIndexTest : public ::testing::TestWithParam<std::tuple<HeadIndex, HeadIndex, int>> {};

ModelConfig ParamConfig(const std::tuple<HeadIndex, HeadIndex, int>& param) {
  const auto [gate, tower, variant] = param;
  // Variant 0: PLE with 2 levels; 1: 3 levels without shared experts; 2: CGC.
  if (variant == 1) return PleConfigFor(gate, tower, 3, 0);
  if (variant == 2) return PleConfigFor(gate, tower, 1, 2);
  return PleConfigFor(gate, tower);
}

TEST_P(PleIndexTest, MatchesPerSampleReference) {
  const ModelConfig c = ParamConfig(GetParam());
  auto model = Make(c);
  RandomBatch b(kShape, kRows, 3);
  testing::ExpectMatchesReference(
      model.get(), &b, [&](int64_t i, int t) { return ReferenceLogit(*model, c, b, i, t); });
}

// Every parameter's and the features' gradients, with an empty domain in the batch: the
// towers and (per-domain groups) the experts of that domain get exactly nothing.
TEST_P(PleIndexTest, Gradients) {
  const ModelConfig c = ParamConfig(GetParam());
  const PleConfig& m = c.ple();
  auto model = Make(c);
  RandomBatch b(kShape, kRows, 4);
  std::vector<std::string> zero;
  if (m.tower_index() != BY_TASK) {
    for (int t = 0; t < (m.tower_index() == BY_DOMAIN ? 1 : kShape.num_tasks); ++t) {
      const std::string h =
          "towers." + std::to_string(HeadFor(m.tower_index(), kShape.num_tasks, 1, t));
      for (const char* n : {".hidden.0.w", ".hidden.0.b", ".out.w", ".out.b"})
        zero.push_back(h + n);
    }
  }
  if (m.gate_index() == BY_DOMAIN) {
    for (int l = 0; l < m.num_levels(); ++l) {
      for (int layer = 0; layer < 2; ++layer) {
        for (const char* n : {".w", ".b"}) {
          zero.push_back("levels." + std::to_string(l) + ".experts.1." + std::to_string(layer) + n);
        }
      }
    }
  }
  testing::ExpectModelGradients(model.get(), &b, zero);
}

INSTANTIATE_TEST_SUITE_P(GateTowerAndLevels, PleIndexTest,
                         ::testing::Combine(::testing::Values(BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK),
                                            ::testing::Values(BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK),
                                            ::testing::Values(0, 1, 2)));

TEST(PleTest, GradientsWithLayerNormPreluAndDropout) {
  ModelConfig c = PleConfigFor(BY_DOMAIN_TASK, BY_DOMAIN);
  for (MlpConfig* mlp : {c.mutable_ple()->mutable_expert(), c.mutable_ple()->mutable_tower()}) {
    mlp->set_layer_norm(true);
    mlp->set_activation(ACT_PRELU);
    mlp->set_dropout(0.25f);
  }
  auto model = Make(c);
  RandomBatch b(kShape, {3, 2, 4}, 5);
  b.batch.seed = 11;  // training: the masks are fixed by the seed
  testing::ExpectModelGradients(model.get(), &b);
}

TEST(PleTest, RejectsBadConfigsNamingTheField) {
  ModelConfig c = PleConfigFor(BY_TASK, BY_TASK);
  c.mutable_ple()->set_num_levels(0);
  auto model = CreateModel(c, kShape, 1);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(), "model.ple.num_levels must be in [1, 64], got 0");
  c = PleConfigFor(BY_TASK, BY_TASK);
  c.mutable_ple()->set_shared_experts(-1);
  model = CreateModel(c, kShape, 1);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(), "model.ple.shared_experts must be in [0, 4096], got -1");
  c = PleConfigFor(BY_TASK, BY_TASK);
  c.mutable_ple()->mutable_expert()->clear_dims();
  model = CreateModel(c, kShape, 1);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(), "model.ple.expert.dims must list at least one layer width");
}

TEST(PleTest, StatsAreLastLevelExpertLoads) {
  auto model = Make(PleConfigFor(BY_TASK, BY_TASK));
  RandomBatch b(kShape, {3, 3, 3}, 8);
  testing::ExpectExpertLoadsSumToOne(model.get(), &b, 3);  // 2 own + 1 shared
}

TEST(PleTest, StatsHaveExpertLoadsPerDomainAndTask) {
  for (const HeadIndex gate : {BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK}) {
    auto model = Make(PleConfigFor(gate, BY_TASK));
    RandomBatch b(kShape, {3, 0, 5}, 8);
    const std::map<std::string, double> load = testing::ExpectDomainTaskLoads(model.get(), &b, 3);
    // Task streams differ; with groups BY_DOMAIN every task reads the domain's one stream.
    EXPECT_EQ(testing::TaskLoadsDiffer(load, 2, 3), gate != BY_DOMAIN) << gate;
  }
}

}  // namespace
}  // namespace moerec
