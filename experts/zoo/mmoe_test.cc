#include "experts/zoo/mmoe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <tuple>

#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::RandomBatch;

constexpr int kExperts = 3;
const ModelShape kShape{5, 3, 2};              // F, D, T
const std::vector<int64_t> kRows = {4, 0, 5};  // domain 1 is empty

ModelConfig MmoeConfigFor(HeadIndex gate, HeadIndex tower, int domain_dim = 2) {
  ModelConfig c;
  c.set_domain_embedding_dim(domain_dim);
  MmoeConfig* m = c.mutable_mmoe();
  m->set_num_experts(kExperts);
  m->mutable_expert()->add_dims(6);
  m->mutable_expert()->add_dims(4);
  m->mutable_tower()->add_dims(3);
  m->set_gate_index(gate);
  m->set_tower_index(tower);
  return c;
}

std::unique_ptr<Model> Make(const ModelConfig& c, uint64_t seed = 1) {
  auto model = CreateModel(c, kShape, seed);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

double Relu(double v) { return std::max(v, 0.0); }

// MMoE computed one sample at a time from the parameters, as docs/models.md writes it.
double ReferenceLogit(const Model& model, const ModelConfig& c, const RandomBatch& b, int64_t i,
                      int t) {
  const ParameterSet& p = model.params();
  const MmoeConfig& m = c.mmoe();
  const int d = b.domain[i];
  const int f = kShape.num_features, de = c.domain_embedding_dim(), in = f + de;
  std::vector<double> e(in);
  for (int j = 0; j < f; ++j) e[j] = b.features.at(i, j);
  for (int j = 0; j < de; ++j) e[f + j] = p.Find("domain_embedding.table")->value.at(d, j);
  // Experts.
  const int h0 = m.expert().dims(0), h1 = m.expert().dims(1);
  const Tensor& w0 = p.Find("experts.0.w")->value;
  const Tensor& b0 = p.Find("experts.0.b")->value;
  const Tensor& w1 = p.Find("experts.1.w")->value;
  const Tensor& b1 = p.Find("experts.1.b")->value;
  std::vector<std::vector<double>> out(kExperts, std::vector<double>(h1));
  for (int n = 0; n < kExperts; ++n) {
    std::vector<double> a(h0);
    for (int k = 0; k < h0; ++k) {
      a[k] = b0[n * h0 + k];
      for (int j = 0; j < in; ++j) a[k] += e[j] * w0.at(j, n * h0 + k);
      a[k] = Relu(a[k]);
    }
    for (int k = 0; k < h1; ++k) {
      double v = b1[n * h1 + k];
      for (int j = 0; j < h0; ++j) v += a[j] * w1[(n * h0 + j) * h1 + k];
      out[n][k] = Relu(v);
    }
  }
  // Gate.
  const int streams = m.gate_index() == BY_DOMAIN ? 1 : kShape.num_tasks;
  const int width = streams * kExperts;
  const int s = streams == 1 ? 0 : t;
  const Tensor& gw = p.Find("gates.w")->value;
  const float* slab = gw.data() + (m.gate_index() == BY_TASK ? 0 : d * in * width);
  std::vector<double> g(kExperts);
  double sum = 0.0;
  for (int n = 0; n < kExperts; ++n) {
    double l = 0.0;
    for (int j = 0; j < in; ++j) l += e[j] * slab[j * width + s * kExperts + n];
    g[n] = std::exp(l);
    sum += g[n];
  }
  std::vector<double> z(h1, 0.0);
  for (int n = 0; n < kExperts; ++n) {
    for (int k = 0; k < h1; ++k) z[k] += g[n] / sum * out[n][k];
  }
  // Tower.
  const std::string th =
      "towers." + std::to_string(HeadFor(m.tower_index(), kShape.num_tasks, d, t));
  const Tensor& tw = p.Find(th + ".hidden.0.w")->value;
  const Tensor& tb = p.Find(th + ".hidden.0.b")->value;
  const Tensor& ow = p.Find(th + ".out.w")->value;
  const Tensor& ob = p.Find(th + ".out.b")->value;
  const int col = m.tower_index() == BY_DOMAIN ? t : 0;
  const int ht = m.tower().dims(0);
  double y = ob[col];
  for (int k = 0; k < ht; ++k) {
    double a = tb[k];
    for (int j = 0; j < h1; ++j) a += z[j] * tw.at(j, k);
    y += Relu(a) * ow.at(k, col);
  }
  return y;
}

class MmoeIndexTest : public ::testing::TestWithParam<std::tuple<HeadIndex, HeadIndex>> {};

TEST_P(MmoeIndexTest, MatchesPerSampleReference) {
  const auto [gate, tower] = GetParam();
  const ModelConfig c = MmoeConfigFor(gate, tower);
  auto model = Make(c);
  RandomBatch b(kShape, kRows, 3);
  testing::ExpectMatchesReference(
      model.get(), &b, [&](int64_t i, int t) { return ReferenceLogit(*model, c, b, i, t); });
}

// Every parameter's and the features' gradients, with an empty domain in the batch: the
// heads of that domain get exactly nothing.
TEST_P(MmoeIndexTest, Gradients) {
  const auto [gate, tower] = GetParam();
  auto model = Make(MmoeConfigFor(gate, tower));
  RandomBatch b(kShape, kRows, 4);
  std::vector<std::string> zero;
  if (tower != BY_TASK) {
    for (int t = 0; t < (tower == BY_DOMAIN ? 1 : kShape.num_tasks); ++t) {
      const std::string h = "towers." + std::to_string(HeadFor(tower, kShape.num_tasks, 1, t));
      for (const char* n : {".hidden.0.w", ".hidden.0.b", ".out.w", ".out.b"})
        zero.push_back(h + n);
    }
  }
  testing::ExpectModelGradients(model.get(), &b, zero);
  // No row of domain 1: its embedding row gets nothing either.
  const Tensor& demb = model->params()->Find("domain_embedding.table")->grad;
  for (int j = 0; j < 2; ++j) EXPECT_EQ(demb.at(1, j), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(GateAndTowerIndex, MmoeIndexTest,
                         ::testing::Combine(::testing::Values(BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK),
                                            ::testing::Values(BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK)));

TEST(MmoeTest, GradientsWithLayerNormPreluAndDropout) {
  for (const float dropout : {0.0f, 0.25f}) {
    ModelConfig c = MmoeConfigFor(BY_DOMAIN_TASK, BY_DOMAIN);
    for (MlpConfig* mlp : {c.mutable_mmoe()->mutable_expert(), c.mutable_mmoe()->mutable_tower()}) {
      mlp->set_layer_norm(true);
      mlp->set_activation(ACT_PRELU);
      mlp->set_dropout(dropout);
    }
    auto model = Make(c);
    RandomBatch b(kShape, {3, 2, 4}, 5);
    b.batch.seed = 11;  // training: the masks are fixed by the seed
    testing::ExpectModelGradients(model.get(), &b);
  }
}

TEST(MmoeTest, GradientsWithoutDomainEmbedding) {
  auto model = Make(MmoeConfigFor(BY_TASK, BY_TASK, 0));
  EXPECT_EQ(model->params()->Find("domain_embedding.table"), nullptr);
  RandomBatch b(kShape, {3, 3, 3}, 6);
  testing::ExpectModelGradients(model.get(), &b);
  // A null dfeatures view is allowed: parameters still get their gradients.
  model->params()->ZeroGrad();
  Tensor logits({b.batch.size, kShape.num_tasks});
  model->Forward(b.batch, logits.view());
  model->Backward(b.batch, b.r.view(), MatView{});
  EXPECT_FALSE(testing::AllZero(model->params()->Find("experts.0.w")->grad));
}

TEST(MmoeTest, DropoutTrainingVersusEval) {
  ModelConfig c = MmoeConfigFor(BY_TASK, BY_TASK);
  c.mutable_mmoe()->mutable_expert()->set_dropout(0.5f);
  ModelConfig no_dropout = MmoeConfigFor(BY_TASK, BY_TASK);
  auto model = Make(c);
  auto reference = Make(no_dropout);
  RandomBatch b(kShape, {6, 6, 6}, 7);
  const int64_t n = b.batch.size * kShape.num_tasks;
  Tensor eval1({b.batch.size, 2}), eval2({b.batch.size, 2}), plain({b.batch.size, 2});
  Tensor train1({b.batch.size, 2}), train2({b.batch.size, 2}), train3({b.batch.size, 2});
  b.batch.training = false;
  b.batch.seed = 1;
  model->Forward(b.batch, eval1.view());
  b.batch.seed = 2;
  model->Forward(b.batch, eval2.view());
  reference->Forward(b.batch, plain.view());
  b.batch.training = true;
  b.batch.seed = 1;
  model->Forward(b.batch, train1.view());
  model->Forward(b.batch, train2.view());
  b.batch.seed = 2;
  model->Forward(b.batch, train3.view());
  int differ_eval = 0, differ_seed = 0;
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(eval1[i], eval2[i]);    // eval ignores the seed
    EXPECT_EQ(eval1[i], plain[i]);    // and is the model without dropout
    EXPECT_EQ(train1[i], train2[i]);  // same seed, same masks
    differ_eval += train1[i] != eval1[i];
    differ_seed += train1[i] != train3[i];
  }
  EXPECT_GT(differ_eval, n / 2);
  EXPECT_GT(differ_seed, n / 2);
}

TEST(MmoeTest, StatsAreExpertLoads) {
  auto model = Make(MmoeConfigFor(BY_TASK, BY_TASK));
  RandomBatch b(kShape, {3, 3, 3}, 8);
  testing::ExpectExpertLoadsSumToOne(model.get(), &b, kExperts);
}

// Per (domain, task): the weights of the mixture task t reads on domain d's rows, each a
// softmax mean, so every cell's loads sum to 1; with gates BY_DOMAIN both tasks read the same
// mixture. A domain without rows in the batch has no cell.
TEST(MmoeTest, StatsHaveExpertLoadsPerDomainAndTask) {
  for (const HeadIndex gate : {BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK}) {
    auto model = Make(MmoeConfigFor(gate, BY_TASK));
    RandomBatch b(kShape, {3, 0, 5}, 8);
    const std::map<std::string, double> load =
        testing::ExpectDomainTaskLoads(model.get(), &b, kExperts);
    EXPECT_EQ(load.size(), 2u * kShape.num_tasks * kExperts) << gate;  // domains 0 and 2
    EXPECT_EQ(testing::TaskLoadsDiffer(load, 2, kExperts), gate != BY_DOMAIN) << gate;
  }
}

}  // namespace
}  // namespace moerec
