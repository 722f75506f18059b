#include "experts/zoo/shared_bottom.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::RandomBatch;

const ModelShape kShape{4, 3, 2};  // F, D, T

ModelConfig SharedBottomConfigFor(HeadIndex tower, Activation act, bool layer_norm,
                                  int domain_dim) {
  ModelConfig c;
  c.set_domain_embedding_dim(domain_dim);
  SharedBottomConfig* s = c.mutable_shared_bottom();
  s->mutable_bottom()->add_dims(6);
  s->mutable_bottom()->add_dims(5);
  s->mutable_bottom()->set_activation(act);
  s->mutable_bottom()->set_layer_norm(layer_norm);
  s->mutable_tower()->add_dims(8);
  s->mutable_tower()->set_activation(act);
  s->set_tower_index(tower);
  return c;
}

std::unique_ptr<Model> Make(const ModelConfig& c) {
  auto model = CreateModel(c, kShape, 9);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

class SharedBottomTest : public ::testing::TestWithParam<HeadIndex> {};

TEST_P(SharedBottomTest, MatchesPerSampleReference) {
  const ModelConfig c = SharedBottomConfigFor(GetParam(), ACT_RELU, false, 0);
  auto model = Make(c);
  const ParameterSet& p = *model->params();
  RandomBatch b(kShape, {2, 3, 2}, 1);
  Tensor logits({b.batch.size, 2});
  model->Forward(b.batch, logits.view());
  auto dense = [&](const std::vector<double>& x, const std::string& name, bool relu) {
    const Tensor& w = p.Find(name + ".w")->value;
    const Tensor& bias = p.Find(name + ".b")->value;
    std::vector<double> y(w.dim(1));
    for (size_t k = 0; k < y.size(); ++k) {
      y[k] = bias[k];
      for (size_t j = 0; j < x.size(); ++j) y[k] += x[j] * w.at(j, k);
      if (relu) y[k] = std::max(y[k], 0.0);
    }
    return y;
  };
  for (int64_t i = 0; i < b.batch.size; ++i) {
    std::vector<double> x(b.features.data() + i * 4, b.features.data() + i * 4 + 4);
    const std::vector<double> h = dense(dense(x, "bottom.0", true), "bottom.1", true);
    for (int t = 0; t < 2; ++t) {
      const std::string th = "towers." + std::to_string(HeadFor(GetParam(), 2, b.domain[i], t));
      const std::vector<double> y = dense(dense(h, th + ".hidden.0", true), th + ".out", false);
      EXPECT_NEAR(logits.at(i, t), y[GetParam() == BY_DOMAIN ? t : 0], 1e-4);
    }
  }
}

TEST_P(SharedBottomTest, Gradients) {
  for (const Activation act : {ACT_RELU, ACT_PRELU, ACT_NONE}) {
    for (const bool layer_norm : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "activation " << act << " layer_norm " << layer_norm);
      auto model = Make(SharedBottomConfigFor(GetParam(), act, layer_norm, 3));
      RandomBatch b(kShape, {7, 6, 8}, 2);
      testing::ExpectModelGradients(model.get(), &b);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TowerIndex, SharedBottomTest,
                         ::testing::Values(BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK));

}  // namespace
}  // namespace moerec
