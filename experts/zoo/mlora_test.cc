#include "experts/zoo/mlora.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::RandomBatch;
using testing::Vec;

const ModelShape kShape{5, 3, 2};  // F, D, T
const std::vector<int> kBottom = {8, 6};
constexpr int kReduce = 3;  // ranks 2, 2

ModelConfig MloraModel(MloraConfig::Mode mode, int experts) {
  ModelConfig c;
  c.set_domain_embedding_dim(2);
  SharedBottomConfig* m = c.mutable_shared_bottom();
  for (const int d : kBottom) m->mutable_bottom()->add_dims(d);
  m->mutable_tower()->add_dims(4);
  m->set_tower_index(BY_DOMAIN_TASK);
  c.mutable_mlora()->set_mode(mode);
  c.mutable_mlora()->set_num_experts(experts);
  c.mutable_mlora()->set_reduce(kReduce);
  c.mutable_mlora()->set_gate_embedding_dim(3);
  return c;
}

// Adapters moved off their zero start, so that every expert changes the output.
std::unique_ptr<Model> Make(const ModelConfig& c) {
  auto model = CreateModel(c, kShape, 1);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  Rng rng(4);
  for (const auto& p : model.value()->params()->params()) {
    if (p->name.rfind("mlora.experts.", 0) != 0) continue;
    for (int64_t i = 0; i < p->value.size(); ++i)
      p->value[i] += 0.5f * static_cast<float>(rng.Normal());
  }
  return std::move(model).value();
}

// The row's adapter weights under a phase, from docs/models.md.
Vec RowWeights(const Model& model, const std::string& phase, int experts, int d) {
  Vec w(experts, 0.0);
  if (phase == "backbone") return w;
  if (phase == "domain") {
    w[d] = 1.0;
  } else if (phase.rfind("expert.", 0) == 0) {
    const int m = std::stoi(phase.substr(7));
    if (d == m % kShape.num_domains) w[m] = 1.0;
  } else {  // gate
    const ParameterSet& p = model.params();
    const Tensor& emb = p.Find("mlora.gate.embedding")->value;
    const Tensor& gw = p.Find("mlora.gate.w")->value;
    const Tensor& gb = p.Find("mlora.gate.b")->value;
    double sum = 0.0;
    for (int m = 0; m < experts; ++m) {
      double l = gb[m];
      for (int j = 0; j < 3; ++j) l += emb.at(d, j) * gw.at(j, m);
      w[m] = std::exp(l);
      sum += w[m];
    }
    for (double& v : w) v /= sum;
  }
  return w;
}

double ReferenceLogit(const Model& model, const RandomBatch& b, int64_t i, int t,
                      const std::string& phase, int experts) {
  const ParameterSet& p = model.params();
  const int d = b.domain[i];
  const Vec w = RowWeights(model, phase, experts, d);
  Vec x = testing::InputRef(p, b.features, i, d);
  for (size_t l = 0; l < kBottom.size(); ++l) {
    const std::string layer = "bottom." + std::to_string(l);
    const Tensor& wl = p.Find(layer + ".w")->value;
    const Tensor& bl = p.Find(layer + ".b")->value;
    const int in = static_cast<int>(x.size()), out = kBottom[l], rank = out / kReduce;
    Vec y(out);
    for (int k = 0; k < out; ++k) {
      y[k] = bl[k];
      for (int j = 0; j < in; ++j) y[k] += x[j] * wl.at(j, k);
    }
    for (int m = 0; m < experts; ++m) {
      const std::string e = "mlora.experts." + std::to_string(m) + "." + std::to_string(l);
      const Tensor& a = p.Find(e + ".a")->value;
      const Tensor& bb = p.Find(e + ".b")->value;
      const Tensor& c = p.Find(e + ".c")->value;
      for (int k = 0; k < out; ++k) {
        double v = c[k];
        for (int r = 0; r < rank; ++r) {
          double xa = 0.0;
          for (int j = 0; j < in; ++j) xa += x[j] * a.at(j, r);
          v += xa * bb.at(r, k);
        }
        y[k] += w[m] * v;
      }
    }
    for (double& v : y) v = testing::ReluRef(v);
    x = y;
  }
  const int head = HeadFor(BY_DOMAIN_TASK, kShape.num_tasks, d, t);
  return testing::TowerRef(p, "towers." + std::to_string(head), {4}, x, 0);
}

void ExpectMatchesReference(Model* model, const std::string& phase, int experts) {
  RandomBatch b(kShape, {3, 2, 4}, 5);
  b.batch.training = false;
  Tensor logits({b.batch.size, kShape.num_tasks});
  model->Forward(b.batch, logits.view());
  for (int64_t i = 0; i < b.batch.size; ++i) {
    for (int t = 0; t < kShape.num_tasks; ++t) {
      EXPECT_NEAR(logits.at(i, t), ReferenceLogit(*model, b, i, t, phase, experts), 1e-4)
          << phase << " row " << i << " task " << t;
    }
  }
}

TEST(MloraTest, EveryPhaseMatchesThePerSampleReference) {
  constexpr int kExperts = 4;  // more experts than domains: expert 3 serves domain 0
  auto model = Make(MloraModel(MloraConfig::MOE_MLORA, kExperts));
  const std::vector<ModelPhase> phases = model->Phases();
  ASSERT_EQ(phases.size(), kExperts + 2u);
  for (size_t p = 0; p < phases.size(); ++p) {
    model->EnterPhase(static_cast<int>(p));
    const std::string name = phases[p].name;
    ExpectMatchesReference(model.get(), name == "gate" || name == "backbone" ? name : name,
                           kExperts);
  }
  EXPECT_EQ(phases[0].name, "backbone");
  EXPECT_EQ(phases[4].name, "expert.3");
  EXPECT_EQ(phases[4].domain, 0);
  EXPECT_FALSE(phases[4].train_rows);
  EXPECT_EQ(phases.back().name, "gate");
}

// The gate's load is reported in the gate phase only: per (domain, task) the domain's gate
// softmax, the same for every task.
TEST(MloraTest, StatsAreTheGatesLoadInTheGatePhase) {
  constexpr int kExperts = 4;
  auto model = Make(MloraModel(MloraConfig::MOE_MLORA, kExperts));
  RandomBatch b(kShape, {3, 0, 4}, 5);
  Tensor logits({b.batch.size, kShape.num_tasks});
  model->Forward(b.batch, logits.view());
  EXPECT_TRUE(model->Stats().empty()) << "backbone phase";
  model->EnterPhase(static_cast<int>(model->Phases().size()) - 1);
  const std::map<std::string, double> load =
      testing::ExpectDomainTaskLoads(model.get(), &b, kExperts);
  for (int e = 0; e < kExperts; ++e) {
    const std::string suffix = "." + std::to_string(e);
    EXPECT_EQ(load.at("expert_load/2/0" + suffix), load.at("expert_load/2/1" + suffix));
  }
}

TEST(MloraTest, MloraModeUsesTheOneHotDomain) {
  auto model = Make(MloraModel(MloraConfig::MLORA, 0));
  EXPECT_TRUE(model->Phases().empty());
  EXPECT_EQ(model->params()->Find("mlora.gate.w"), nullptr);
  ExpectMatchesReference(model.get(), "domain", kShape.num_domains);
}

// In each phase, the parameters the phase trains (and the features) against finite
// differences; experts without weight on any row get exactly nothing.
TEST(MloraTest, GradientsInTheExpertAndGatePhases) {
  auto model = Make(MloraModel(MloraConfig::MOE_MLORA, 3));
  const std::vector<ModelPhase> phases = model->Phases();
  for (const int p : {2, 4}) {  // expert.1, gate
    model->EnterPhase(p);
    RandomBatch b(kShape, {3, 2, 4}, 6 + p);
    std::vector<std::string> zero;
    for (const auto& param : model->params()->params()) {
      const std::string& n = param->name;
      if (p == 2 && n.rfind("mlora.experts.", 0) == 0 && n.rfind("mlora.experts.1.", 0) != 0)
        zero.push_back(n);
      if (p == 2 && n.rfind("mlora.gate.", 0) == 0) zero.push_back(n);
    }
    testing::ExpectModelGradients(model.get(), &b, zero);
    EXPECT_TRUE(
        phases[p].trains(*model->params()->Find(p == 2 ? "mlora.experts.1.0.a" : "mlora.gate.w")));
    EXPECT_FALSE(phases[p].trains(*model->params()->Find("bottom.0.w")));
  }
}

TEST(MloraTest, RejectsBadConfigsNamingTheField) {
  auto expect = [](const ModelConfig& c, const std::string& message) {
    auto model = CreateModel(c, kShape, 1);
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().message(), message);
  };
  expect(MloraModel(MloraConfig::MLORA, 2),
         "model.mlora.num_experts must be 0 or data.num_domains (3) in mode MLORA (one adapter "
         "per domain), got 2");
  ModelConfig c = MloraModel(MloraConfig::MOE_MLORA, 0);
  c.mutable_mlora()->set_reduce(0);
  expect(c, "model.mlora.reduce must be in [1, 65536], got 0");
  c = MloraModel(MloraConfig::MOE_MLORA, 0);
  c.mutable_mlora()->mutable_expert()->set_epochs(0);
  expect(c, "model.mlora.expert.epochs must be in [1, 1048576], got 0");
  ModelConfig mmoe;
  mmoe.mutable_mlora();
  mmoe.mutable_mmoe()->mutable_expert()->add_dims(4);
  mmoe.mutable_mmoe()->mutable_tower();
  expect(mmoe,
         "model.mlora: the adapters attach to a model's DNN: shared_bottom (its bottom) or a ctr "
         "backbone (its dnn)");
}

}  // namespace
}  // namespace moerec
