#include "experts/zoo/star.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::RandomBatch;
using testing::Vec;

const ModelShape kShape{5, 3, 2};              // F, D, T
const std::vector<int64_t> kRows = {4, 0, 5};  // domain 1 is empty
const std::vector<int> kStarDims = {6, 4};
const std::vector<int> kTowerDims = {6};
const std::vector<int> kAuxDims = {3};

ModelConfig StarConfigFor(HeadIndex tower, bool norm, bool aux) {
  ModelConfig c;
  StarConfig* m = c.mutable_star();
  for (const int d : kStarDims) m->mutable_star()->add_dims(d);
  for (const int d : kTowerDims) m->mutable_tower()->add_dims(d);
  m->set_tower_index(tower);
  m->set_partitioned_norm(norm);
  if (aux) {
    c.set_domain_embedding_dim(2);
    for (const int d : kAuxDims) m->mutable_aux()->add_dims(d);
  }
  return c;
}

// A model whose every value (running statistics included) is moved off its initial one, so
// that the per-domain parts and the statistics matter.
std::unique_ptr<Model> Make(const ModelConfig& c) {
  auto model = CreateModel(c, kShape, 1);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  Rng rng(9);
  for (const auto& p : model.value()->params()->params()) {
    for (int64_t i = 0; i < p->value.size(); ++i) {
      const float noise = 0.3f * static_cast<float>(rng.Normal());
      p->value[i] = p->name.find("running_var") != std::string::npos ? 0.5f + std::fabs(noise)
                                                                     : p->value[i] + noise;
    }
  }
  return std::move(model).value();
}

// STAR in evaluation, one sample at a time from the parameters, as docs/models.md writes it.
double ReferenceLogit(const Model& model, const ModelConfig& c, const RandomBatch& b, int64_t i,
                      int t) {
  const ParameterSet& p = model.params();
  const StarConfig& m = c.star();
  const int d = b.domain[i];
  const int f = kShape.num_features;
  Vec x(f);
  for (int j = 0; j < f; ++j) x[j] = b.features.at(i, j);
  if (m.partitioned_norm()) {
    for (int j = 0; j < f; ++j) {
      const double mean = p.Find("norm.running_mean")->value.at(d, j);
      const double var = p.Find("norm.running_var")->value.at(d, j);
      const double gamma =
          p.Find("norm.gamma")->value[j] * p.Find("norm.domain_gamma")->value.at(d, j);
      const double beta =
          p.Find("norm.beta")->value[j] + p.Find("norm.domain_beta")->value.at(d, j);
      x[j] = (x[j] - mean) / std::sqrt(var + 1e-5) * gamma + beta;
    }
  }
  for (size_t l = 0; l < kStarDims.size(); ++l) {
    const std::string n = "star." + std::to_string(l);
    const Tensor& w = p.Find(n + ".w")->value;
    const Tensor& bias = p.Find(n + ".b")->value;
    const Tensor& dw = p.Find(n + ".domain_w")->value;
    const Tensor& db = p.Find(n + ".domain_b")->value;
    const int in = static_cast<int>(x.size()), out = kStarDims[l];
    Vec y(out);
    for (int k = 0; k < out; ++k) {
      double v = bias[k] + db[d * out + k];
      for (int j = 0; j < in; ++j) v += x[j] * w[j * out + k] * dw[(d * in + j) * out + k];
      y[k] = testing::ReluRef(v);
    }
    x = y;
  }
  const std::string tower =
      "towers." + std::to_string(HeadFor(m.tower_index(), kShape.num_tasks, d, t));
  double logit = testing::TowerRef(p, tower, kTowerDims, x, m.tower_index() == BY_DOMAIN ? t : 0);
  if (m.has_aux()) {
    const Vec e = testing::InputRef(p, b.features, i, d);
    logit += testing::TowerRef(p, "aux", kAuxDims, e, t);
  }
  return logit;
}

class StarTest : public ::testing::TestWithParam<std::tuple<HeadIndex, bool, bool>> {};

TEST_P(StarTest, MatchesPerSampleReferenceInEvaluation) {
  const auto [tower, norm, aux] = GetParam();
  const ModelConfig c = StarConfigFor(tower, norm, aux);
  auto model = Make(c);
  RandomBatch b(kShape, kRows, 3);
  testing::ExpectMatchesReference(
      model.get(), &b, [&](int64_t i, int t) { return ReferenceLogit(*model, c, b, i, t); });
}

TEST_P(StarTest, GradientsInTraining) {
  const auto [tower, norm, aux] = GetParam();
  auto model = Make(StarConfigFor(tower, norm, aux));
  RandomBatch b(kShape, {3, 2, 4}, 4);
  testing::ExpectModelGradients(model.get(), &b);
}

INSTANTIATE_TEST_SUITE_P(TowerNormAux, StarTest,
                         ::testing::Combine(::testing::Values(BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK),
                                            ::testing::Bool(), ::testing::Bool()));

TEST(StarModelTest, RejectsBadConfigsNamingTheField) {
  auto expect = [](const ModelConfig& c, const std::string& message) {
    auto model = CreateModel(c, kShape, 1);
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().message(), message);
  };
  ModelConfig c = StarConfigFor(BY_TASK, true, false);
  c.set_domain_embedding_dim(4);
  expect(c,
         "model.domain_embedding_dim feeds STAR's auxiliary network: set model.star.aux, or "
         "model.domain_embedding_dim: 0");
  c = StarConfigFor(BY_TASK, true, true);
  c.set_domain_embedding_dim(0);
  expect(c, "model.star.aux reads the domain embedding: set model.domain_embedding_dim >= 1");
  c = StarConfigFor(BY_TASK, true, false);
  c.mutable_star()->mutable_star()->set_activation(ACT_PRELU);
  expect(c, "model.star.star.activation must be ACT_RELU or ACT_NONE, got ACT_PRELU");
  c = StarConfigFor(BY_TASK, true, false);
  c.mutable_star()->mutable_star()->set_dropout(0.1f);
  expect(c,
         "model.star.star: star layers take no layer_norm and no dropout (partitioned_norm "
         "normalises the input)");
  c = StarConfigFor(BY_TASK, true, false);
  c.mutable_star()->set_norm_momentum(0.0f);
  expect(c, "model.star.norm_momentum must be in (0, 1], got 0.000000");
}

}  // namespace
}  // namespace moerec
