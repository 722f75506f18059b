// The CTR backbones against a per-sample double-precision reference written from the parameters
// by name with plain loops (no core kernels), and by finite differences.
#include "experts/zoo/ctr.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "experts/layers/heads.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::RandomBatch;
using testing::Vec;

constexpr int kS = 4, kK = 3;  // 4 slots of dim 3, then 2 dense features
const ModelShape kShape{.num_features = kS * kK + 2,
                        .num_domains = 3,
                        .num_tasks = 2,
                        .slot_dims = {kK, kK, kK, kK},
                        .slot_names = {"a", "b", "c", "d"},
                        .num_dense = 2};
const std::vector<int> kDnnDims = {5, 4};
const std::vector<int> kTowerDims = {3};

// One tested configuration of a backbone.
struct Case {
  const char* name;
  CtrConfig::Backbone backbone;
  void (*set)(CtrConfig*);
};

const Case kCases[] = {
    {"WideDeep", CtrConfig::WIDE_DEEP, [](CtrConfig*) {}},
    {"DeepFm", CtrConfig::DEEPFM, [](CtrConfig*) {}},
    {"Dcn", CtrConfig::DCN, [](CtrConfig* c) { c->set_cross_layers(2); }},
    {"DcnV2", CtrConfig::DCN,
     [](CtrConfig* c) {
       c->set_cross_layers(2);
       c->set_cross_matrix(true);
     }},
    {"Nfm", CtrConfig::NFM, [](CtrConfig*) {}},
    {"PnnInner", CtrConfig::PNN, [](CtrConfig* c) { c->set_product(CtrConfig::INNER); }},
    {"PnnOuter", CtrConfig::PNN, [](CtrConfig* c) { c->set_product(CtrConfig::OUTER); }},
    {"PnnBoth", CtrConfig::PNN, [](CtrConfig* c) { c->set_product(CtrConfig::BOTH); }},
    {"XDeepFm", CtrConfig::XDEEPFM,
     [](CtrConfig* c) {
       c->add_cin_layers(3);
       c->add_cin_layers(2);
     }},
    {"AutoInt", CtrConfig::AUTOINT,
     [](CtrConfig* c) {
       c->set_attention_layers(2);
       c->set_attention_heads(2);
       c->set_attention_head_dim(2);
     }},
    {"AutoIntNoResidual", CtrConfig::AUTOINT,
     [](CtrConfig* c) {
       c->set_attention_layers(2);
       c->set_attention_heads(2);
       c->set_attention_head_dim(2);
       c->set_attention_residual(false);
     }},
    {"FiBiNetAll", CtrConfig::FIBINET,
     [](CtrConfig* c) {
       c->set_senet_reduction(2);
       c->set_bilinear_type(CtrConfig::FIELD_ALL);
     }},
    {"FiBiNetEach", CtrConfig::FIBINET,
     [](CtrConfig* c) { c->set_bilinear_type(CtrConfig::FIELD_EACH); }},
    {"FiBiNetInteraction", CtrConfig::FIBINET,
     [](CtrConfig* c) {
       c->set_senet_reduction(2);
       c->set_bilinear_type(CtrConfig::FIELD_INTERACTION);
     }},
};

ModelConfig ConfigFor(const Case& k, HeadIndex tower) {
  ModelConfig c;
  // The domain embedding in x for some head indexings, not for others.
  c.set_domain_embedding_dim(tower == BY_DOMAIN ? 0 : 2);
  CtrConfig* m = c.mutable_ctr();
  m->set_backbone(k.backbone);
  for (const int d : kDnnDims) m->mutable_dnn()->add_dims(d);
  for (const int d : kTowerDims) m->mutable_tower()->add_dims(d);
  m->set_tower_index(tower);
  k.set(m);
  return c;
}

// Every value moved off its initial one, so that the biases and scales matter.
std::unique_ptr<Model> Make(const ModelConfig& c) {
  auto model = CreateModel(c, kShape, 1);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  Rng rng(9);
  for (const auto& p : model.value()->params()->params()) {
    for (int64_t i = 0; i < p->value.size(); ++i) {
      p->value[i] += 0.2f * static_cast<float>(rng.Normal());
    }
  }
  return std::move(model).value();
}

const Tensor& P(const ParameterSet& p, const std::string& name) {
  const Parameter* q = p.Find(name);
  CHECK(q != nullptr) << name;
  return q->value;
}

// y (out) = x (in) W for a row-major (in, out) W.
Vec MatVec(const Vec& x, const Tensor& w, int64_t out) {
  Vec y(out, 0.0);
  for (size_t j = 0; j < x.size(); ++j) {
    for (int64_t c = 0; c < out; ++c) y[c] += x[j] * w[j * out + c];
  }
  return y;
}

// Field s of a flat (S*k) vector.
Vec Field(const Vec& v, int s, int k) { return Vec(v.begin() + s * k, v.begin() + (s + 1) * k); }

void Append(Vec* to, const Vec& from) { to->insert(to->end(), from.begin(), from.end()); }

// sum_{i<j} v_i ⊙ v_j (B, k): the bi-interaction pooling.
Vec BiInteractionRef(const Vec& v) {
  Vec out(kK, 0.0);
  for (int i = 0; i < kS; ++i) {
    for (int j = i + 1; j < kS; ++j) {
      for (int c = 0; c < kK; ++c) out[c] += v[i * kK + c] * v[j * kK + c];
    }
  }
  return out;
}

Vec ProductsRef(const ParameterSet& p, const CtrConfig& m, const Vec& v) {
  Vec out;
  if (m.product() != CtrConfig::OUTER) {
    for (int i = 0; i < kS; ++i) {
      for (int j = i + 1; j < kS; ++j) {
        double s = 0.0;
        for (int c = 0; c < kK; ++c) s += v[i * kK + c] * v[j * kK + c];
        out.push_back(s);
      }
    }
  }
  if (m.product() != CtrConfig::INNER) {
    const Tensor& kernel = P(p, "product.kernel");
    int pair = 0;
    for (int i = 0; i < kS; ++i) {
      for (int j = i + 1; j < kS; ++j, ++pair) {
        double s = 0.0;
        for (int a = 0; a < kK; ++a) {
          for (int c = 0; c < kK; ++c)
            s += v[i * kK + a] * kernel[(pair * kK + a) * kK + c] * v[j * kK + c];
        }
        out.push_back(s);
      }
    }
  }
  return out;
}

Vec CrossRef(const ParameterSet& p, const CtrConfig& m, const Vec& x0) {
  const int64_t d = x0.size();
  Vec x = x0;
  for (int l = 0; l < m.cross_layers(); ++l) {
    const std::string n = "cross." + std::to_string(l);
    const Tensor& w = P(p, n + ".w");
    const Tensor& b = P(p, n + ".b");
    Vec y(d);
    if (m.cross_matrix()) {  // x0 ⊙ (x W + b) + x
      const Vec z = MatVec(x, w, d);
      for (int64_t c = 0; c < d; ++c) y[c] = x0[c] * (z[c] + b[c]) + x[c];
    } else {  // x0 (x · w) + b + x
      double s = 0.0;
      for (int64_t j = 0; j < d; ++j) s += x[j] * w[j];
      for (int64_t c = 0; c < d; ++c) y[c] = x0[c] * s + b[c] + x[c];
    }
    x = y;
  }
  return x;
}

Vec CinRef(const ParameterSet& p, const CtrConfig& m, const Vec& v) {
  Vec pooled, prev = v;  // prev: (H_prev, k)
  int h_prev = kS;
  for (int l = 0; l < m.cin_layers_size(); ++l) {
    const Tensor& w = P(p, "cin." + std::to_string(l) + ".w");
    const int h = m.cin_layers(l);
    Vec next(h * kK, 0.0);
    for (int o = 0; o < h; ++o) {
      for (int i = 0; i < h_prev; ++i) {
        for (int j = 0; j < kS; ++j) {
          const double wij = w[o * h_prev * kS + i * kS + j];
          for (int c = 0; c < kK; ++c) next[o * kK + c] += wij * prev[i * kK + c] * v[j * kK + c];
        }
      }
    }
    for (int o = 0; o < h; ++o) {
      double s = 0.0;
      for (int c = 0; c < kK; ++c) s += next[o * kK + c];
      pooled.push_back(s);
    }
    prev = next;
    h_prev = h;
  }
  return pooled;
}

Vec AttentionRef(const ParameterSet& p, const CtrConfig& m, const Vec& v) {
  const int heads = m.attention_heads(), dh = m.attention_head_dim(), e = heads * dh;
  Vec x = v;
  int in = kK;
  for (int l = 0; l < m.attention_layers(); ++l) {
    const std::string n = "attention." + std::to_string(l);
    std::vector<Vec> q(kS), k(kS), val(kS);
    for (int s = 0; s < kS; ++s) {
      const Vec xs = Field(x, s, in);
      q[s] = MatVec(xs, P(p, n + ".q"), e);
      k[s] = MatVec(xs, P(p, n + ".k"), e);
      val[s] = MatVec(xs, P(p, n + ".v"), e);
    }
    Vec y(kS * e, 0.0);
    for (int s = 0; s < kS; ++s) {
      Vec res(e, 0.0);
      if (m.attention_residual()) res = MatVec(Field(x, s, in), P(p, n + ".res"), e);
      for (int h = 0; h < heads; ++h) {
        Vec a(kS);
        double max = -1e300, sum = 0.0;
        for (int t = 0; t < kS; ++t) {
          a[t] = 0.0;
          for (int c = 0; c < dh; ++c) a[t] += q[s][h * dh + c] * k[t][h * dh + c];
          max = std::max(max, a[t]);
        }
        for (double& w : a) sum += (w = std::exp(w - max));
        for (int c = 0; c < dh; ++c) {
          double o = 0.0;
          for (int t = 0; t < kS; ++t) o += a[t] / sum * val[t][h * dh + c];
          y[s * e + h * dh + c] = testing::ReluRef(o + res[h * dh + c]);
        }
      }
    }
    x = y;
    in = e;
  }
  return x;
}

Vec SenetRef(const ParameterSet& p, const Vec& v) {
  const Tensor& w1 = P(p, "senet.w1");
  Vec z(kS);
  for (int s = 0; s < kS; ++s) {
    z[s] = 0.0;
    for (int c = 0; c < kK; ++c) z[s] += v[s * kK + c] / kK;
  }
  Vec hidden = MatVec(z, w1, w1.cols());
  for (double& h : hidden) h = testing::ReluRef(h);
  const Vec a = MatVec(hidden, P(p, "senet.w2"), kS);
  Vec out(v.size());
  for (int s = 0; s < kS; ++s) {
    for (int c = 0; c < kK; ++c) out[s * kK + c] = testing::ReluRef(a[s]) * v[s * kK + c];
  }
  return out;
}

Vec BilinearRef(const ParameterSet& p, const std::string& name, CtrConfig::BilinearType type,
                const Vec& v) {
  const Tensor& w = P(p, name + ".w");
  Vec out;
  int pair = 0;
  for (int i = 0; i < kS; ++i) {
    for (int j = i + 1; j < kS; ++j, ++pair) {
      const int m = type == CtrConfig::FIELD_ALL ? 0 : type == CtrConfig::FIELD_EACH ? i : pair;
      for (int c = 0; c < kK; ++c) {
        double s = 0.0;
        for (int a = 0; a < kK; ++a) s += v[i * kK + a] * w[(m * kK + a) * kK + c];
        out.push_back(s * v[j * kK + c]);
      }
    }
  }
  return out;
}

// The backbone of docs/models.md, one sample at a time, in evaluation.
double ReferenceLogit(const Model& model, const ModelConfig& c, const RandomBatch& b, int64_t i,
                      int t) {
  const ParameterSet& p = model.params();
  const CtrConfig& m = c.ctr();
  const int d = b.domain[i];
  const Vec x = testing::InputRef(p, b.features, i, d);
  const Vec v(x.begin(), x.begin() + kS * kK);
  const Vec rest(x.begin() + kS * kK, x.end());
  Vec dnn_in = x, side;
  switch (m.backbone()) {
    case CtrConfig::NFM:
      dnn_in = BiInteractionRef(v);
      Append(&dnn_in, rest);
      break;
    case CtrConfig::PNN:
      Append(&dnn_in, ProductsRef(p, m, v));
      break;
    case CtrConfig::FIBINET:
      dnn_in = BilinearRef(p, "bilinear", m.bilinear_type(), v);
      Append(&dnn_in, BilinearRef(p, "senet_bilinear", m.bilinear_type(), SenetRef(p, v)));
      Append(&dnn_in, rest);
      break;
    case CtrConfig::DCN:
      side = CrossRef(p, m, x);
      break;
    case CtrConfig::XDEEPFM:
      side = CinRef(p, m, v);
      break;
    case CtrConfig::AUTOINT:
      side = AttentionRef(p, m, v);
      break;
    default:
      break;
  }
  Vec head_in = side;
  Append(&head_in, testing::MlpRef(p, "dnn", 0, 1, kDnnDims, dnn_in));
  const std::string tower =
      "towers." + std::to_string(HeadFor(m.tower_index(), kShape.num_tasks, d, t));
  double logit =
      testing::TowerRef(p, tower, kTowerDims, head_in, m.tower_index() == BY_DOMAIN ? t : 0);
  const char* linear = m.backbone() == CtrConfig::WIDE_DEEP ? "wide.w" : "linear.w";
  if (const Parameter* w = p.Find(linear)) {
    for (size_t j = 0; j < x.size(); ++j) logit += x[j] * w->value[j * kShape.num_tasks + t];
  }
  if (m.backbone() == CtrConfig::DEEPFM) {
    for (const double f : BiInteractionRef(v)) logit += f;
  }
  return logit;
}

class CtrTest : public ::testing::TestWithParam<std::tuple<int, HeadIndex>> {
 protected:
  const Case& TestCase() const { return kCases[std::get<0>(GetParam())]; }
  ModelConfig Config() const { return ConfigFor(TestCase(), std::get<1>(GetParam())); }
};

TEST_P(CtrTest, MatchesPerSampleReferenceInEvaluation) {
  const ModelConfig c = Config();
  auto model = Make(c);
  RandomBatch b(kShape, {4, 0, 5}, 3);  // domain 1 is empty
  testing::ExpectMatchesReference(
      model.get(), &b, [&](int64_t i, int t) { return ReferenceLogit(*model, c, b, i, t); });
}

TEST_P(CtrTest, GradientsOfEveryParameterAndTheFeatures) {
  const ModelConfig c = Config();
  auto model = Make(c);
  RandomBatch b(kShape, {6, 0, 7}, 4);
  // The heads of the empty domain 1 get no gradient.
  std::vector<std::string> zero;
  const HeadIndex index = c.ctr().tower_index();
  if (PerDomain(index)) {
    for (int t = 0; t < (index == BY_DOMAIN ? 1 : kShape.num_tasks); ++t) {
      const std::string head = "towers." + std::to_string(HeadFor(index, kShape.num_tasks, 1, t));
      for (const auto& p : model->params()->params()) {
        if (p->name.rfind(head + ".", 0) == 0) zero.push_back(p->name);
      }
    }
  }
  testing::ExpectModelGradients(model.get(), &b, zero);
}

// MoE-MLoRA on the backbone's DNN: in the backbone phase the model is the plain backbone
// (same parameters by name, same logits); in the gate phase every parameter, the adapters' and
// the gate's included, matches finite differences.
TEST_P(CtrTest, MoeMloraOnTheDnn) {
  if (std::get<1>(GetParam()) != BY_TASK) GTEST_SKIP() << "one head indexing is enough";
  ModelConfig c = Config();
  c.mutable_mlora()->set_reduce(2);
  c.mutable_mlora()->set_gate_embedding_dim(2);
  // Fresh models: every parameter's start is a function of its name alone.
  auto made = CreateModel(c, kShape, 1);
  auto plain_made = CreateModel(Config(), kShape, 1);
  ASSERT_TRUE(made.ok() && plain_made.ok()) << made.status();
  std::unique_ptr<Model> model = std::move(made).value(), plain = std::move(plain_made).value();
  RandomBatch b(kShape, {3, 2, 4}, 5);
  b.batch.training = false;
  Tensor with({b.batch.size, kShape.num_tasks}), without({b.batch.size, kShape.num_tasks});
  model->Forward(b.batch, with.view());
  plain->Forward(b.batch, without.view());
  for (int64_t i = 0; i < with.size(); ++i) ASSERT_EQ(with[i], without[i]);
  const std::vector<ModelPhase> phases = model->Phases();
  ASSERT_EQ(phases.size(), 5u);  // backbone, 3 experts, gate
  // Adapters off their zero start, so that the gate's gradient is not zero.
  Rng rng(6);
  for (const auto& p : model->params()->params()) {
    if (p->name.rfind("mlora.experts.", 0) != 0) continue;
    for (int64_t i = 0; i < p->value.size(); ++i)
      p->value[i] += 0.3f * static_cast<float>(rng.Normal());
  }
  model->EnterPhase(4);
  RandomBatch train(kShape, {3, 2, 4}, 8);
  testing::ExpectModelGradients(model.get(), &train);
}

INSTANTIATE_TEST_SUITE_P(Backbones, CtrTest,
                         ::testing::Combine(::testing::Range(0,
                                                             static_cast<int>(std::size(kCases))),
                                            ::testing::Values(BY_TASK, BY_DOMAIN, BY_DOMAIN_TASK)),
                         [](const ::testing::TestParamInfo<CtrTest::ParamType>& info) {
                           return std::string(kCases[std::get<0>(info.param)].name) + "_" +
                                  HeadIndex_Name(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace moerec
