#include "experts/zoo/sparse_moe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::GateRef;
using testing::InputRef;
using testing::MlpRef;
using testing::RandomBatch;
using testing::TowerRef;
using testing::Vec;

const ModelShape kShape{5, 3, 2};  // F, D, T
const std::vector<int> kEncoder = {6};
const std::vector<int> kExpert = {5, 4};
const std::vector<int> kTower = {3};

void AddDims(MlpConfig* m, const std::vector<int>& dims) {
  for (int d : dims) m->add_dims(d);
}

ModelConfig Topk(int experts, int k, bool encoder = true) {
  ModelConfig c;
  c.set_domain_embedding_dim(2);
  TopkMoeConfig* m = c.mutable_topk_moe();
  m->set_num_experts(experts);
  m->set_top_k(k);
  m->set_capacity_factor(0.0f);  // dropless unless a test sets it
  if (encoder) AddDims(m->mutable_encoder(), kEncoder);
  AddDims(m->mutable_expert(), kExpert);
  AddDims(m->mutable_tower(), kTower);
  return c;
}

ModelConfig Smes(int experts, int shared_k, int private_k) {
  ModelConfig c;
  c.set_domain_embedding_dim(2);
  SmesConfig* m = c.mutable_smes();
  m->set_num_experts(experts);
  m->set_shared_k(shared_k);
  m->set_private_k(private_k);
  AddDims(m->mutable_encoder(), kEncoder);
  AddDims(m->mutable_expert(), kExpert);
  AddDims(m->mutable_tower(), kTower);
  return c;
}

ModelConfig DenseMmoe(int experts) {
  ModelConfig c;
  c.set_domain_embedding_dim(2);
  MmoeConfig* m = c.mutable_mmoe();
  m->set_num_experts(experts);
  AddDims(m->mutable_expert(), kExpert);
  AddDims(m->mutable_tower(), kTower);
  m->mutable_placement()->set_kind(ExpertPlacementConfig::CONTIGUOUS);
  return c;
}

std::unique_ptr<Model> Make(const ModelConfig& c) {
  auto model = CreateModel(c, kShape, 3);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

// Indices of the k largest (ties to the lower index), skipping `skip`.
std::vector<int> TopIndices(const Vec& v, int k, const std::vector<int>& skip = {}) {
  std::vector<int> idx;
  for (int e = 0; e < static_cast<int>(v.size()); ++e) {
    if (std::find(skip.begin(), skip.end(), e) == skip.end()) idx.push_back(e);
  }
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return v[a] > v[b]; });
  idx.resize(std::min<size_t>(k, idx.size()));
  return idx;
}

// The model of docs/models.md one sample at a time: the router's probabilities, the selection,
// the mixture of the selected experts, the tower.
double Reference(const Model& model, const ModelConfig& c, const RandomBatch& b, int64_t i, int t) {
  const ParameterSet& p = model.params();
  Vec h = InputRef(p, b.features, i, b.domain[i]);
  const bool topk = c.has_topk_moe(), smes = c.has_smes();
  if ((topk && c.topk_moe().has_encoder()) || smes) h = MlpRef(p, "encoder", 0, 1, kEncoder, h);
  const int experts =
      topk ? c.topk_moe().num_experts() : (smes ? c.smes().num_experts() : c.mmoe().num_experts());
  const int streams = topk ? 1 : kShape.num_tasks;
  const int s = topk ? 0 : t;
  std::vector<Vec> probs;
  for (int k = 0; k < streams; ++k)
    probs.push_back(GateRef(p, "router", -1, k, streams, experts, h));
  std::vector<int> chosen;
  bool renorm = true;
  if (topk) {
    chosen = TopIndices(probs[0], c.topk_moe().top_k());
    renorm = c.topk_moe().normalize_top_k();
  } else if (smes) {
    Vec pooled(experts, 0.0);
    for (int k = 0; k < streams; ++k) {
      for (int e = 0; e < experts; ++e) pooled[e] += probs[k][e] / streams;
    }
    const std::vector<int> shared = TopIndices(pooled, c.smes().shared_k());
    chosen = TopIndices(probs[s], c.smes().private_k(), shared);
    chosen.insert(chosen.end(), shared.begin(), shared.end());
  } else {
    chosen.resize(experts);
    std::iota(chosen.begin(), chosen.end(), 0);
    renorm = false;
  }
  double z = 0.0;
  for (int e : chosen) z += probs[s][e];
  Vec mix(kExpert.back(), 0.0);
  for (int e : chosen) {
    const Vec y = MlpRef(p, "experts." + std::to_string(e), 0, 1, kExpert, h);
    const double w = renorm ? probs[s][e] / z : probs[s][e];
    for (size_t j = 0; j < mix.size(); ++j) mix[j] += w * y[j];
  }
  const HeadIndex heads =
      topk ? c.topk_moe().tower_index() : (smes ? c.smes().tower_index() : c.mmoe().tower_index());
  const int head = HeadFor(heads, kShape.num_tasks, b.domain[i], t);
  return TowerRef(p, "towers." + std::to_string(head), kTower, mix, heads == BY_DOMAIN ? t : 0);
}

TEST(SparseMoeTest, TopkMatchesPerSampleReference) {
  for (const int k : {1, 2}) {
    for (const bool normalize : {true, false}) {
      for (const bool encoder : {true, false}) {
        ModelConfig c = Topk(5, k, encoder);
        c.mutable_topk_moe()->set_normalize_top_k(normalize);
        auto model = Make(c);
        RandomBatch b(kShape, {4, 0, 5}, 3);
        testing::ExpectMatchesReference(
            model.get(), &b, [&](int64_t i, int t) { return Reference(*model, c, b, i, t); });
      }
    }
  }
}

TEST(SparseMoeTest, SmesAndDenseMatchPerSampleReference) {
  ModelConfig heads = Smes(5, 1, 1);
  heads.mutable_smes()->set_tower_index(BY_DOMAIN_TASK);
  ModelConfig by_domain = Topk(4, 2);
  by_domain.mutable_topk_moe()->set_tower_index(BY_DOMAIN);
  for (const ModelConfig& c :
       {Smes(6, 2, 1), Smes(5, 1, 2), Smes(4, 3, 0), DenseMmoe(3), heads, by_domain}) {
    auto model = Make(c);
    RandomBatch b(kShape, {3, 4, 2}, 5);
    testing::ExpectMatchesReference(
        model.get(), &b, [&](int64_t i, int t) { return Reference(*model, c, b, i, t); });
  }
}

TEST(SparseMoeTest, GradientsIncludingBalanceAndZLoss) {
  ModelConfig topk = Topk(5, 2);
  topk.mutable_topk_moe()->set_balance_weight(0.5f);
  topk.mutable_topk_moe()->set_z_loss_weight(0.1f);
  topk.mutable_topk_moe()->set_router_noise(0.3f);
  ModelConfig plain = Topk(4, 1, false);
  plain.mutable_topk_moe()->set_normalize_top_k(false);
  ModelConfig smes = Smes(6, 2, 1);
  smes.mutable_smes()->set_balance_weight(0.5f);
  ModelConfig heads = Smes(5, 1, 1);
  heads.mutable_smes()->set_tower_index(BY_DOMAIN);
  for (const ModelConfig& c : {topk, plain, smes, heads, DenseMmoe(3)}) {
    auto model = Make(c);
    RandomBatch b(kShape,
                  c.smes().tower_index() == BY_DOMAIN ? std::vector<int64_t>{8, 8, 8}
                                                      : std::vector<int64_t>{4, 1, 5},
                  7);
    b.batch.seed = 9;
    testing::ExpectModelGradients(model.get(), &b);
    if (!c.has_mmoe()) {
      EXPECT_GT(model->AuxLoss(), 0.0) << c.ShortDebugString();
    }
  }
}

// With no task loss (r = 0) only the balance and z-loss terms remain: their gradients reach the
// router, the encoder and the input alone (through p, not through the selection counts).
TEST(SparseMoeTest, AuxiliaryLossGradientsAlone) {
  ModelConfig topk = Topk(5, 2);
  topk.mutable_topk_moe()->set_balance_weight(2.0f);
  topk.mutable_topk_moe()->set_z_loss_weight(0.5f);
  ModelConfig smes = Smes(6, 2, 1);
  smes.mutable_smes()->set_balance_weight(2.0f);
  for (const ModelConfig& c : {topk, smes}) {
    auto model = Make(c);
    RandomBatch b(kShape, {4, 1, 5}, 12);
    b.r.Fill(0.0f);
    std::vector<std::string> zero;
    for (const auto& p : model->params()->params()) {
      if (p->name.rfind("experts.", 0) == 0 || p->name.rfind("towers.", 0) == 0) {
        zero.push_back(p->name);
      }
    }
    testing::ExpectModelGradients(model.get(), &b, zero);
  }
}

// The balance loss of one process is beta * (E / K) * sum_e f_e p_e over its batch.
TEST(SparseMoeTest, BalanceLossIsTheFormula) {
  ModelConfig c = Smes(6, 2, 1);
  c.mutable_smes()->set_balance_weight(0.25f);
  auto model = Make(c);
  RandomBatch b(kShape, {5, 5, 5}, 8);
  Tensor logits({b.batch.size, 2});
  model->Forward(b.batch, logits.view());
  const int E = 6, K = 3, T = 2;
  Vec f(E, 0.0), pm(E, 0.0);
  for (int64_t i = 0; i < b.batch.size; ++i) {
    const ParameterSet& p = *model->params();
    const Vec h = MlpRef(p, "encoder", 0, 1, kEncoder, InputRef(p, b.features, i, b.domain[i]));
    std::vector<Vec> probs;
    Vec pooled(E, 0.0);
    for (int t = 0; t < T; ++t) {
      probs.push_back(GateRef(p, "router", -1, t, T, E, h));
      for (int e = 0; e < E; ++e) pooled[e] += probs[t][e] / T;
    }
    const std::vector<int> shared = TopIndices(pooled, 2);
    for (int t = 0; t < T; ++t) {
      std::vector<int> k = TopIndices(probs[t], 1, shared);
      k.insert(k.end(), shared.begin(), shared.end());
      for (int e : k) f[e] += 1.0;
      for (int e = 0; e < E; ++e) pm[e] += probs[t][e];
    }
  }
  const double n = static_cast<double>(b.batch.size) * T;
  double want = 0.0;
  for (int e = 0; e < E; ++e) want += (f[e] / n) * (pm[e] / n);
  want *= 0.25 * E / K;
  EXPECT_NEAR(model->AuxLoss(), want, 1e-6);
  // Eval forms no balance loss.
  b.batch.training = false;
  model->Forward(b.batch, logits.view());
  EXPECT_EQ(model->AuxLoss(), 0.0);
}

TEST(SparseMoeTest, StatisticsHaveRouterLoadsPerDomainAndTask) {
  for (const bool topk : {true, false}) {
    auto model = Make(topk ? Topk(5, 2) : Smes(5, 1, 1));
    RandomBatch b(kShape, {4, 0, 5}, 3);
    const std::map<std::string, double> load = testing::ExpectDomainTaskLoads(model.get(), &b, 5);
    // SMES's routers are per task; top-k MoE's one router serves every task.
    EXPECT_EQ(testing::TaskLoadsDiffer(load, 0, 5), !topk) << (topk ? "top-k" : "smes");
  }
}

TEST(SparseMoeTest, StatisticsReportTheActiveSetAndLoads) {
  auto model = Make(Smes(8, 2, 1));
  RandomBatch b(kShape, {6, 6, 6}, 9);
  testing::ExpectExpertLoadsSumToOne(model.get(), &b, 8);
  double mean = 0.0, max = 0.0;
  int shares = 0;
  for (const auto& [name, value] : model->Stats()) {
    if (name == "active_experts_mean") mean = value;
    if (name == "active_experts_max") max = value;
    shares += name.rfind("expert_share.", 0) == 0;
  }
  EXPECT_GE(mean, 3.0);  // K_s + K_a at least
  EXPECT_LE(max, 4.0);   // at most K_s + T * K_a
  EXPECT_EQ(shares, 16);
}

// Capacity ceil(cf * B * k / E): by position, the first choices of all rows are served before
// any second choice; every routed row beyond an expert's capacity is dropped.
TEST(SparseMoeTest, CapacityDropsTheOverflowByPositionOrProbability) {
  for (const auto policy : {TopkMoeConfig::BY_POSITION, TopkMoeConfig::BY_PROBABILITY}) {
    ModelConfig c = Topk(4, 2);
    c.mutable_topk_moe()->set_capacity_factor(0.5f);
    c.mutable_topk_moe()->set_drop_policy(policy);
    auto model = Make(c);
    RandomBatch b(kShape, {10, 10, 12}, 10);
    Tensor logits({b.batch.size, 2});
    model->Forward(b.batch, logits.view());
    const int64_t capacity = static_cast<int64_t>(std::ceil(0.5 * b.batch.size * 2 / 4));
    // The selections per expert from the loads (before capacity).
    double dropped = -1.0, total = 0.0;
    std::vector<double> load(4, 0.0);
    for (const auto& [name, value] : model->Stats()) {
      if (name == "tokens_dropped") dropped = value;
      if (name.rfind("expert_load.", 0) == 0) load[std::stoi(name.substr(12))] = value;
    }
    for (double l : load) total += std::max(0.0, std::round(l * b.batch.size * 2) - capacity);
    EXPECT_EQ(dropped, total) << TopkMoeConfig::DropPolicy_Name(policy);
    EXPECT_GT(dropped, 0.0);
    // Every expert runs at most `capacity` rows.
    const auto& begin = static_cast<SparseMoeModel*>(model.get())->dispatch().local_begin();
    for (size_t e = 0; e + 1 < begin.size(); ++e) EXPECT_LE(begin[e + 1] - begin[e], capacity);
    // Dropless drops nothing.
    c.mutable_topk_moe()->set_capacity_factor(0.0f);
    auto dropless = Make(c);
    dropless->Forward(b.batch, logits.view());
    for (const auto& [name, value] : dropless->Stats()) {
      if (name == "tokens_dropped") {
        EXPECT_EQ(value, 0.0);
      }
    }
  }
}

TEST(SparseMoeTest, EmptyBatchAndOneWorkerPlacements) {
  for (const auto kind : {ExpertPlacementConfig::REPLICATED, ExpertPlacementConfig::CONTIGUOUS,
                          ExpertPlacementConfig::ROUND_ROBIN}) {
    ModelConfig c = Smes(6, 2, 1);
    c.mutable_smes()->mutable_placement()->set_kind(kind);
    auto model = Make(c);
    const bool local = kind != ExpertPlacementConfig::REPLICATED;
    EXPECT_EQ(model->params()->Find("experts.5.1.w")->expert_local, local);
    EXPECT_FALSE(model->params()->Find("router.w")->expert_local);
    RandomBatch b(kShape, {0, 0, 0}, 11);
    Tensor logits({1, 2});
    model->Forward(b.batch, logits.view().Rows(0, 0));
    model->Backward(b.batch, ConstMatView(logits.data(), 0, 2, 2), MatView{});
    EXPECT_FALSE(model->Collective(true)) << "one process";
  }
}

TEST(SparseMoeTest, RejectsBadConfigsNamingTheField) {
  ModelConfig c = Topk(4, 5);
  EXPECT_NE(CreateModel(c, kShape, 1).status().ToString().find("model.topk_moe.top_k"),
            std::string::npos);
  c = Smes(4, 3, 2);
  EXPECT_NE(CreateModel(c, kShape, 1).status().ToString().find("model.smes.private_k"),
            std::string::npos);
  c = Smes(4, 2, 1);
  c.mutable_smes()->mutable_expert()->set_layer_norm(true);
  EXPECT_NE(CreateModel(c, kShape, 1).status().ToString().find("model.smes.expert"),
            std::string::npos);
  c = Smes(4, 2, 1);
  c.mutable_smes()->add_task_weights(1.0f);
  EXPECT_NE(CreateModel(c, kShape, 1).status().ToString().find("task_weights"), std::string::npos);
  c = DenseMmoe(3);
  c.mutable_mmoe()->set_gate_index(BY_DOMAIN);
  EXPECT_NE(CreateModel(c, kShape, 1).status().ToString().find("model.mmoe.gate_index"),
            std::string::npos);
}

}  // namespace
}  // namespace moerec
