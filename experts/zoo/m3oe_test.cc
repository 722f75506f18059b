#include "experts/zoo/m3oe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::MlpRef;
using testing::RandomBatch;
using testing::Vec;

const ModelShape kShape{5, 3, 2};              // F, D, T
const std::vector<int64_t> kRows = {4, 0, 5};  // domain 1 is empty
const std::vector<int> kRepDims = {6};
const std::vector<int> kExpertDims = {5, 4};
const std::vector<int> kTowerDims = {6};
constexpr int kShared = 3;
constexpr int kStarDim = 7;

ModelConfig M3oeConfigFor(HeadIndex tower) {
  ModelConfig c;
  c.set_domain_embedding_dim(2);
  M3oeConfig* m = c.mutable_m3oe();
  m->set_star_dim(kStarDim);
  m->set_num_shared_experts(kShared);
  for (const int d : kRepDims) m->mutable_representation()->add_dims(d);
  for (const int d : kExpertDims) m->mutable_expert()->add_dims(d);
  for (const int d : kTowerDims) m->mutable_tower()->add_dims(d);
  m->set_tower_index(tower);
  return c;
}

// Distinct fusion scalars and per-domain star weights, so that each one matters.
std::unique_ptr<Model> Make(const ModelConfig& c) {
  auto model = CreateModel(c, kShape, 1);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  ParameterSet* p = model.value()->params();
  Tensor& theta = p->Find("arch.theta")->value;
  theta[0] = 0.3f;
  theta[1] = -0.4f;
  theta[2] = 1.2f;
  theta[3] = 0.1f;
  Rng rng(5);
  for (const char* n : {"star.0.domain_w", "star.0.domain_b"}) {
    Tensor& t = p->Find(n)->value;
    for (int64_t i = 0; i < t.size(); ++i) t[i] += 0.3f * static_cast<float>(rng.Normal());
  }
  return std::move(model).value();
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// M3oE one sample at a time from the parameters, as docs/models.md writes it.
double ReferenceLogit(const Model& model, const ModelConfig& c, const RandomBatch& b, int64_t i,
                      int t) {
  const ParameterSet& p = model.params();
  const int d = b.domain[i];
  const int nd = kShape.num_domains, nt = kShape.num_tasks;
  const Vec e = testing::InputRef(p, b.features, i, d);
  const int in = static_cast<int>(e.size());
  // u = e (W_d ⊙ W_sh) + b_d + b_sh.
  Vec u(kStarDim);
  for (int k = 0; k < kStarDim; ++k) {
    u[k] = p.Find("star.0.b")->value[k] + p.Find("star.0.domain_b")->value.at(d, k);
    for (int j = 0; j < in; ++j) {
      u[k] += e[j] * p.Find("star.0.w")->value[j * kStarDim + k] *
              p.Find("star.0.domain_w")->value[(d * in + j) * kStarDim + k];
    }
  }
  Vec h = MlpRef(p, "rep", 0, 1, kRepDims, u);
  const Vec skip = MlpRef(p, "skip", 0, 1, kRepDims, e);
  for (size_t k = 0; k < h.size(); ++k) h[k] += skip[k];
  const Vec g = testing::GateRef(p, "gates", d, t, nt, kShared, h);
  Vec s(kExpertDims.back(), 0.0);
  for (int n = 0; n < kShared; ++n) {
    const Vec f = MlpRef(p, "shared_experts", n, kShared, kExpertDims, h);
    for (size_t k = 0; k < s.size(); ++k) s[k] += g[n] * f[k];
  }
  const Tensor& theta = p.Find("arch.theta")->value;
  const double ad = Sigmoid(theta[0]), at = Sigmoid(theta[1]), bd = Sigmoid(theta[2]),
               bt = Sigmoid(theta[3]);
  auto fuse = [&](const std::string& name, int n, int own, double beta) {
    Vec out(s.size(), 0.0);
    for (int k = 0; k < n; ++k) {
      const Vec f = MlpRef(p, name, k, n, kExpertDims, h);
      const double weight = k == own ? beta : (1.0 - beta) / (n - 1);
      for (size_t j = 0; j < out.size(); ++j) out[j] += weight * f[j];
    }
    return out;
  };
  const Vec dom = fuse("domain_experts", nd, d, bd);
  const Vec tsk = fuse("task_experts", nt, t, bt);
  Vec z(s.size());
  for (size_t k = 0; k < z.size(); ++k) z[k] = s[k] + ad * dom[k] + at * tsk[k];
  const HeadIndex index = c.m3oe().tower_index();
  const std::string tower = "towers." + std::to_string(HeadFor(index, nt, d, t));
  return testing::TowerRef(p, tower, kTowerDims, z, index == BY_DOMAIN ? t : 0);
}

class M3oeTest : public ::testing::TestWithParam<HeadIndex> {};

TEST_P(M3oeTest, MatchesPerSampleReference) {
  const ModelConfig c = M3oeConfigFor(GetParam());
  auto model = Make(c);
  RandomBatch b(kShape, kRows, 3);
  testing::ExpectMatchesReference(
      model.get(), &b, [&](int64_t i, int t) { return ReferenceLogit(*model, c, b, i, t); });
}

// The parameters from h on against finite differences. Those below h (star, rep, skip, the
// domain embedding) also feed the gates, whose input is stopgrad(h): finite differences see
// that path and the gradient must not, so they are checked with constant gates (below).
TEST_P(M3oeTest, ParameterGradientsFromTheRepresentationOn) {
  auto model = Make(M3oeConfigFor(GetParam()));
  RandomBatch b(kShape, {3, 2, 4}, 4);
  Tensor logits({b.batch.size, kShape.num_tasks});
  auto loss = [&] {
    model->Forward(b.batch, logits.view());
    return testing::Dot(logits.view(), b.r);
  };
  model->params()->ZeroGrad();
  loss();
  model->Backward(b.batch, b.r.view(), MatView{});
  int checked = 0;
  for (const auto& p : model->params()->params()) {
    const std::string& n = p->name;
    if (n.rfind("star.", 0) == 0 || n.rfind("rep.", 0) == 0 || n.rfind("skip.", 0) == 0 ||
        n.rfind("domain_embedding.", 0) == 0) {
      continue;
    }
    EXPECT_FALSE(testing::AllZero(p->grad)) << n;
    testing::ExpectGradientMatches(p->value.data(), p->grad.data(), p->value.size(), loss, n, 17);
    ++checked;
  }
  EXPECT_GE(checked, 8);
}

INSTANTIATE_TEST_SUITE_P(TowerIndex, M3oeTest,
                         ::testing::Values(BY_DOMAIN_TASK, BY_TASK, BY_DOMAIN));

// With zero gate weights the gates are uniform whatever h is, so stopgrad makes no
// difference and the features' gradient must match finite differences exactly.
TEST(M3oeModelTest, FeatureGradientWithConstantGates) {
  ModelConfig c = M3oeConfigFor(BY_DOMAIN_TASK);
  c.mutable_m3oe()->mutable_expert()->set_layer_norm(true);
  c.mutable_m3oe()->mutable_representation()->set_layer_norm(true);
  auto model = Make(c);
  model->params()->Find("gates.w")->value.Fill(0.0f);
  RandomBatch b(kShape, {3, 2, 4}, 6);
  testing::ExpectModelGradients(model.get(), &b);
}

// The stop-gradient itself: with input-dependent gates, finite differences of the loss in
// the skip MLP's bias include the gates' path and the gradient does not, so they differ.
TEST(M3oeModelTest, GatesReadAStopGradient) {
  auto model = Make(M3oeConfigFor(BY_DOMAIN_TASK));
  Tensor& gates = model->params()->Find("gates.w")->value;
  for (int64_t i = 0; i < gates.size(); ++i) gates[i] *= 20.0f;  // gates that vary with h
  RandomBatch b(kShape, {3, 2, 4}, 7);
  Tensor logits({b.batch.size, 2});
  auto loss = [&] {
    model->Forward(b.batch, logits.view());
    return testing::Dot(logits.view(), b.r);
  };
  model->params()->ZeroGrad();
  loss();
  model->Backward(b.batch, b.r.view(), MatView{});
  EXPECT_FALSE(testing::AllZero(model->params()->Find("gates.w")->grad));
  Parameter* bias = model->params()->Find("skip.0.b");
  double largest = 0.0;
  for (int64_t i = 0; i < bias->value.size(); ++i) {
    const float saved = bias->value[i];
    bias->value[i] = saved + 1e-3f;
    const double up = loss();
    bias->value[i] = saved - 1e-3f;
    const double down = loss();
    bias->value[i] = saved;
    largest = std::max(largest, std::fabs((up - down) / 2e-3 - bias->grad[i]));
  }
  EXPECT_GT(largest, 1e-3);
}

TEST(M3oeModelTest, StatsHaveSharedExpertLoadsPerDomainAndTask) {
  auto model = Make(M3oeConfigFor(BY_DOMAIN_TASK));
  RandomBatch b(kShape, {3, 0, 4}, 8);
  testing::ExpectDomainTaskLoads(model.get(), &b, kShared);
}

TEST(M3oeModelTest, StatsReportTheFusionScalars) {
  auto model = Make(M3oeConfigFor(BY_DOMAIN_TASK));
  std::map<std::string, double> stats;
  for (const auto& [name, value] : model->Stats()) stats[name] = value;
  EXPECT_NEAR(stats.at("alpha_domain"), Sigmoid(0.3), 1e-6);
  EXPECT_NEAR(stats.at("alpha_task"), Sigmoid(-0.4), 1e-6);
  EXPECT_NEAR(stats.at("beta_domain"), Sigmoid(1.2), 1e-6);
  EXPECT_NEAR(stats.at("beta_task"), Sigmoid(0.1), 1e-6);
  // theta starts at theta_init.
  ModelConfig c = M3oeConfigFor(BY_DOMAIN_TASK);
  c.mutable_m3oe()->set_theta_init(-2.0f);
  auto fresh = CreateModel(c, kShape, 1);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->params()->Find("arch.theta")->value[2], -2.0f);
}

}  // namespace
}  // namespace moerec
