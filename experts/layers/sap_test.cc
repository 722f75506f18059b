#include "experts/layers/sap.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "experts/layers/sap_mmoe.h"
#include "experts/layers/star.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::Vec;

// Rows per scenario {3, 0, 4}: scenario 1 is empty.
const std::vector<int64_t> kBegin = {0, 3, 3, 7};
const std::vector<int32_t> kDomain = {0, 0, 0, 2, 2, 2, 2};
constexpr int kRows = 7;
constexpr int kDomains = 3;

Vec Row(const Tensor& t, int64_t i) {
  Vec v(t.cols());
  for (int64_t j = 0; j < t.cols(); ++j) v[j] = t.at(i, j);
  return v;
}

SapConfig Rank(int rank) {
  SapConfig c;
  c.set_rank(rank);
  return c;
}

// The SAP "<name>" on one sample: x W + b + ((x B) ⊙ (e W_gen + b_gen)) A.
Vec SapRef(const ParameterSet& p, const std::string& name, const Vec& x, const Vec& e) {
  const Tensor& w = p.Find(name + ".w")->value;
  const Tensor& b = p.Find(name + ".b")->value;
  const Tensor& bproj = p.Find(name + ".bproj")->value;
  const Tensor& a = p.Find(name + ".a")->value;
  const Tensor& gw = p.Find(name + ".gen.w")->value;
  const Tensor& gb = p.Find(name + ".gen.b")->value;
  const int64_t in = static_cast<int64_t>(x.size()), out = b.size(), rank = gb.size();
  Vec u(rank);
  for (int64_t r = 0; r < rank; ++r) {
    double s = gb[r], t = 0.0;
    for (size_t j = 0; j < e.size(); ++j) s += e[j] * gw[j * rank + r];
    for (int64_t j = 0; j < in; ++j) t += x[j] * bproj[j * rank + r];
    u[r] = t * s;
  }
  Vec y(out);
  for (int64_t o = 0; o < out; ++o) {
    double v = b[o];
    for (int64_t j = 0; j < in; ++j) v += x[j] * w[j * out + o];
    for (int64_t r = 0; r < rank; ++r) v += u[r] * a[r * out + o];
    y[o] = v;
  }
  return y;
}

// Running statistics of every buffer set to random values (variances in [0.5, 1.5)).
void RandomizeRunningStatistics(ParameterSet* params, uint64_t seed) {
  Rng rng(seed);
  for (const auto& p : params->params()) {
    if (!p->is_buffer) continue;
    const bool var = p->name.ends_with(".running_var");
    for (int64_t i = 0; i < p->value.size(); ++i) {
      p->value[i] = var ? 0.5f + rng.UniformFloat() : 0.5f * static_cast<float>(rng.Normal());
    }
  }
}

TEST(SapLayerTest, StartsAsTheSharedLinear) {
  ParameterSet params;
  SapLayer sap(Rank(2), 4, 3, 5, "sap", &params, 1);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"sap.w", {4, 3}}, {"sap.b", {3}},        {"sap.bproj", {4, 2}},
      {"sap.a", {2, 3}}, {"sap.gen.w", {5, 2}}, {"sap.gen.b", {2}}};
  ASSERT_EQ(params.params().size(), shapes.size());
  for (const auto& [name, shape] : shapes) {
    ASSERT_NE(params.Find(name), nullptr) << name;
    EXPECT_EQ(params.Find(name)->value.shape(), shape) << name;
  }
  EXPECT_TRUE(testing::AllZero(params.Find("sap.a")->value));
  EXPECT_FALSE(testing::AllZero(params.Find("sap.bproj")->value));
  EXPECT_FALSE(testing::AllZero(params.Find("sap.gen.w")->value));
  Rng rng(2);
  Tensor x({kRows, 4}), e({kRows, 5});
  testing::FillNormal(&x, &rng);
  testing::FillNormal(&e, &rng);
  SapCache cache;
  const ConstMatView y = sap.Forward(x.view(), e.view(), &cache);
  const Tensor& w = params.Find("sap.w")->value;
  const Tensor& b = params.Find("sap.b")->value;
  for (int i = 0; i < kRows; ++i) {
    for (int o = 0; o < 3; ++o) {
      double v = b[o];
      for (int j = 0; j < 4; ++j) v += x.at(i, j) * w[j * 3 + o];
      EXPECT_NEAR(y.row(i)[o], v, 1e-5);
    }
  }
}

TEST(SapLayerTest, MatchesAPerSampleReference) {
  ParameterSet params;
  SapLayer sap(Rank(3), 5, 4, 2, "sap", &params, 3);
  testing::PerturbParameters(&params, 4);
  Rng rng(5);
  Tensor x({kRows, 5}), e({kRows, 2});
  testing::FillNormal(&x, &rng);
  testing::FillNormal(&e, &rng);
  SapCache cache;
  const ConstMatView y = sap.Forward(x.view(), e.view(), &cache);
  for (int i = 0; i < kRows; ++i) {
    const Vec want = SapRef(params, "sap", Row(x, i), Row(e, i));
    for (int o = 0; o < 4; ++o) EXPECT_NEAR(y.row(i)[o], want[o], 1e-5) << i << " " << o;
  }
}

TEST(SapLayerTest, Gradients) {
  ParameterSet params;
  SapLayer sap(Rank(2), 4, 3, 3, "sap", &params, 6);
  testing::PerturbParameters(&params, 7);
  Rng rng(8);
  Tensor x({kRows, 4}), e({kRows, 3}), r({kRows, 3}), dx({kRows, 4}), de({kRows, 3});
  testing::FillNormal(&x, &rng);
  testing::FillNormal(&e, &rng);
  testing::FillNormal(&r, &rng);
  dx.Fill(7.0f);  // must be overwritten
  de.Fill(7.0f);
  SapCache cache;
  auto loss = [&] { return testing::Dot(sap.Forward(x.view(), e.view(), &cache), r); };
  loss();
  params.ZeroGrad();
  sap.Backward(x.view(), e.view(), r.view(), dx.view(), 0.0f, de.view(), 0.0f, &cache);
  testing::ExpectParameterGradients(&params, loss, 9);
  testing::ExpectGradientMatches(x.data(), dx.data(), x.size(), loss, "dx", 10);
  testing::ExpectGradientMatches(e.data(), de.data(), e.size(), loss, "de", 11);
  // Beta 1 adds to both; null views are skipped.
  Tensor dx2({kRows, 4}), de2({kRows, 3});
  dx2.Fill(1.0f);
  de2.Fill(-1.0f);
  sap.Backward(x.view(), e.view(), r.view(), dx2.view(), 1.0f, de2.view(), 1.0f, &cache);
  for (int64_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx2[i], dx[i] + 1.0f, 1e-4);
  for (int64_t i = 0; i < de.size(); ++i) EXPECT_NEAR(de2[i], de[i] - 1.0f, 1e-4);
  params.ZeroGrad();
  sap.Backward(x.view(), e.view(), r.view(), MatView{}, 0.0f, MatView{}, 0.0f, &cache);
  EXPECT_FALSE(testing::AllZero(params.Find("sap.gen.w")->grad));
}

// DSBN: PartitionedNorm without its shared scale and shift.
PartitionedNormOptions Dsbn(float momentum, float eps) {
  PartitionedNormOptions o;
  o.momentum = momentum;
  o.eps = eps;
  o.shared_affine = false;
  return o;
}

TEST(DsbnTest, TrainingUsesEachScenariosBatchStatisticsAndMovesTheRunningOnes) {
  ParameterSet params;
  const float momentum = 0.3f, eps = 1e-2f;
  PartitionedNorm bn(2, kDomains, Dsbn(momentum, eps), "bn", &params);
  EXPECT_EQ(params.Find("bn.gamma"), nullptr);
  EXPECT_EQ(params.Find("bn.beta"), nullptr);
  ASSERT_EQ(params.params().size(), 4u);
  testing::PerturbParameters(&params, 12);
  RandomizeRunningStatistics(&params, 13);
  const Tensor& gamma = params.Find("bn.domain_gamma")->value;
  const Tensor& beta = params.Find("bn.domain_beta")->value;
  const Tensor& rm = params.Find("bn.running_mean")->value;
  const Tensor& rv = params.Find("bn.running_var")->value;
  const Tensor rm0 = rm, rv0 = rv;
  Rng rng(14);
  Tensor x({kRows, 2});
  testing::FillNormal(&x, &rng);
  PartitionedNormCache cache;
  const ConstMatView y = bn.Forward(x.view(), kDomain.data(), true, &cache);
  for (const int d : {0, 2}) {
    const int r0 = static_cast<int>(kBegin[d]), n = static_cast<int>(kBegin[d + 1]) - r0;
    for (int c = 0; c < 2; ++c) {
      double mean = 0.0, var = 0.0;
      for (int i = r0; i < r0 + n; ++i) mean += x.at(i, c) / n;
      for (int i = r0; i < r0 + n; ++i) var += (x.at(i, c) - mean) * (x.at(i, c) - mean) / n;
      for (int i = r0; i < r0 + n; ++i) {
        const double want =
            (x.at(i, c) - mean) / std::sqrt(var + eps) * gamma.at(d, c) + beta.at(d, c);
        EXPECT_NEAR(y.row(i)[c], want, 1e-4) << i << " " << c;
      }
      EXPECT_NEAR(rm.at(d, c), (1 - momentum) * rm0.at(d, c) + momentum * mean, 1e-5);
      EXPECT_NEAR(rv.at(d, c), (1 - momentum) * rv0.at(d, c) + momentum * var * n / (n - 1), 1e-5);
    }
  }
  // The empty scenario's statistics stay.
  for (int c = 0; c < 2; ++c) {
    EXPECT_EQ(rm.at(1, c), rm0.at(1, c));
    EXPECT_EQ(rv.at(1, c), rv0.at(1, c));
  }
}

TEST(DsbnTest, EvaluationUsesEachRowsScenarioRunningStatistics) {
  ParameterSet params;
  const float eps = 1e-3f;
  PartitionedNorm bn(3, kDomains, Dsbn(0.1f, eps), "bn", &params);
  testing::PerturbParameters(&params, 15);
  RandomizeRunningStatistics(&params, 16);
  const Tensor& gamma = params.Find("bn.domain_gamma")->value;
  const Tensor& beta = params.Find("bn.domain_beta")->value;
  const Tensor& rm = params.Find("bn.running_mean")->value;
  const Tensor& rv = params.Find("bn.running_var")->value;
  const Tensor rm0 = rm, rv0 = rv;
  // Rows of every scenario, in no particular order.
  const std::vector<int32_t> domain = {2, 1, 0, 1, 2};
  Rng rng(17);
  Tensor x({5, 3});
  testing::FillNormal(&x, &rng);
  PartitionedNormCache cache;
  const ConstMatView y = bn.Forward(x.view(), domain.data(), false, &cache);
  for (int i = 0; i < 5; ++i) {
    const int d = domain[i];
    for (int c = 0; c < 3; ++c) {
      const double want =
          (x.at(i, c) - rm.at(d, c)) / std::sqrt(rv.at(d, c) + eps) * gamma.at(d, c) +
          beta.at(d, c);
      EXPECT_NEAR(y.row(i)[c], want, 1e-5) << i << " " << c;
    }
  }
  for (int64_t i = 0; i < rm.size(); ++i) {
    EXPECT_EQ(rm[i], rm0[i]);
    EXPECT_EQ(rv[i], rv0[i]);
  }
}

TEST(DsbnTest, Gradients) {
  for (const bool training : {true, false}) {
    ParameterSet params;
    PartitionedNorm bn(3, kDomains, Dsbn(0.1f, 1e-5f), "bn", &params);
    testing::PerturbParameters(&params, 18);
    RandomizeRunningStatistics(&params, 19);
    Rng rng(20);
    Tensor x({kRows, 3}), r({kRows, 3}), dx({kRows, 3});
    testing::FillNormal(&x, &rng);
    testing::FillNormal(&r, &rng);
    PartitionedNormCache cache;
    auto loss = [&] {
      return testing::Dot(bn.Forward(x.view(), kDomain.data(), training, &cache), r);
    };
    loss();
    params.ZeroGrad();
    bn.Backward(x.view(), kDomain.data(), r.view(), dx.view(), &cache);
    const testing::GradCheckOptions options{24, 5e-3};
    testing::ExpectParameterGradients(&params, loss, 21, {}, options);
    testing::ExpectGradientMatches(x.data(), dx.data(), x.size(), loss, "dx", 22, options);
    // The empty scenario's scale and shift get nothing.
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(params.Find("bn.domain_gamma")->grad.at(1, c), 0.0f);
      EXPECT_EQ(params.Find("bn.domain_beta")->grad.at(1, c), 0.0f);
    }
  }
}

constexpr int kExperts = 3;
constexpr int kInput = 4, kScenario = 3, kGate = 2, kOutput = 3;
const std::vector<int> kDims = {5, 4};

SapMmoeConfig MmoeConfig(float eps) {
  SapMmoeConfig c;
  c.set_num_experts(kExperts);
  for (const int d : kDims) c.add_dims(d);
  c.set_output_dim(kOutput);
  c.mutable_sap()->set_rank(2);
  c.set_bn_momentum(0.2f);
  c.set_bn_eps(eps);
  return c;
}

// SapMmoe "mmoe" on one sample of scenario d in evaluation (the running statistics).
Vec SapMmoeRef(const ParameterSet& p, float eps, int d, const Vec& x, const Vec& e, const Vec& g) {
  const Vec alpha = testing::GateRef(p, "mmoe.gate", -1, 0, 1, kExperts, g);
  Vec z(kDims.back(), 0.0);
  for (int k = 0; k < kExperts; ++k) {
    Vec h = x;
    for (size_t l = 0; l < kDims.size(); ++l) {
      const std::string n = "mmoe." + std::to_string(k) + "." + std::to_string(l);
      const Tensor& slope = p.Find(n + ".prelu_alpha")->value;
      const Tensor& gamma = p.Find(n + ".bn.domain_gamma")->value;
      const Tensor& beta = p.Find(n + ".bn.domain_beta")->value;
      const Tensor& rm = p.Find(n + ".bn.running_mean")->value;
      const Tensor& rv = p.Find(n + ".bn.running_var")->value;
      h = SapRef(p, n, h, e);
      for (int c = 0; c < kDims[l]; ++c) {
        const double act = h[c] > 0.0 ? h[c] : slope[c] * h[c];
        h[c] = (act - rm.at(d, c)) / std::sqrt(rv.at(d, c) + eps) * gamma.at(d, c) + beta.at(d, c);
      }
    }
    for (size_t c = 0; c < z.size(); ++c) z[c] += alpha[k] * h[c];
  }
  return SapRef(p, "mmoe.out", z, e);
}

struct MmoeInputs {
  Tensor x{kRows, kInput}, e{kRows, kScenario}, g{kRows, kGate}, r{kRows, kOutput};
  explicit MmoeInputs(uint64_t seed) {
    Rng rng(seed);
    testing::FillNormal(&x, &rng);
    testing::FillNormal(&e, &rng);
    testing::FillNormal(&g, &rng);
    testing::FillNormal(&r, &rng);
  }
};

TEST(SapMmoeTest, EvaluationMatchesAPerSampleReference) {
  const float eps = 1e-3f;
  ParameterSet params;
  SapMmoe mmoe(MmoeConfig(eps), kInput, kScenario, kGate, kDomains, "mmoe", &params, 23);
  EXPECT_EQ(mmoe.num_experts(), kExperts);
  EXPECT_EQ(mmoe.expert_dim(), kDims.back());
  EXPECT_EQ(mmoe.output_dim(), kOutput);
  EXPECT_EQ(params.Find("mmoe.gate.w")->value.shape(), (std::vector<int64_t>{kGate, kExperts}));
  EXPECT_EQ(params.Find("mmoe.2.1.bn.running_var")->value.shape(),
            (std::vector<int64_t>{kDomains, kDims[1]}));
  EXPECT_EQ(params.Find("mmoe.out.a")->value.shape(), (std::vector<int64_t>{2, kOutput}));
  testing::PerturbParameters(&params, 24);
  RandomizeRunningStatistics(&params, 25);
  MmoeInputs in(26);
  SapMmoeCache cache;
  const ConstMatView y = mmoe.Forward(in.x.view(), in.e.view(), in.g.view(), kBegin, false, &cache);
  for (int i = 0; i < kRows; ++i) {
    const Vec want = SapMmoeRef(params, eps, kDomain[i], Row(in.x, i), Row(in.e, i), Row(in.g, i));
    for (int o = 0; o < kOutput; ++o) {
      EXPECT_NEAR(y.row(i)[o], want[o], 1e-4 * std::max(1.0, std::fabs(want[o])))
          << "row " << i << " output " << o;
    }
  }
}

TEST(SapMmoeTest, Gradients) {
  for (const bool training : {true, false}) {
    ParameterSet params;
    SapMmoe mmoe(MmoeConfig(1e-5f), kInput, kScenario, kGate, kDomains, "mmoe", &params, 27);
    testing::PerturbParameters(&params, 28);
    RandomizeRunningStatistics(&params, 29);
    MmoeInputs in(30);
    Tensor dx({kRows, kInput}), de({kRows, kScenario}), dg({kRows, kGate});
    dx.Fill(7.0f);  // must be overwritten
    de.Fill(7.0f);
    dg.Fill(7.0f);
    SapMmoeCache cache;
    auto loss = [&] {
      return testing::Dot(
          mmoe.Forward(in.x.view(), in.e.view(), in.g.view(), kBegin, training, &cache), in.r);
    };
    loss();
    params.ZeroGrad();
    mmoe.Backward(in.x.view(), in.e.view(), in.g.view(), kBegin, in.r.view(), dx.view(), de.view(),
                  dg.view(), &cache);
    const testing::GradCheckOptions options{24, 5e-3};
    testing::ExpectParameterGradients(&params, loss, 31, {}, options);
    testing::ExpectGradientMatches(in.x.data(), dx.data(), in.x.size(), loss, "dx", 32, options);
    testing::ExpectGradientMatches(in.e.data(), de.data(), in.e.size(), loss, "de", 33, options);
    testing::ExpectGradientMatches(in.g.data(), dg.data(), in.g.size(), loss, "dg", 34, options);
    // The empty scenario's DSBN scale and shift get nothing.
    const Tensor& g = params.Find("mmoe.1.0.bn.domain_gamma")->grad;
    for (int c = 0; c < kDims[0]; ++c) EXPECT_EQ(g.at(1, c), 0.0f);
  }
}

TEST(SapMmoeTest, GateFeaturesMayBeTheScenarioEmbedding) {
  ParameterSet params;
  SapMmoeConfig config = MmoeConfig(1e-5f);
  SapMmoe mmoe(config, kInput, kScenario, kScenario, kDomains, "mmoe", &params, 35);
  testing::PerturbParameters(&params, 36);
  MmoeInputs in(37);
  Tensor de({kRows, kScenario}), dg({kRows, kScenario}), sum({kRows, kScenario});
  SapMmoeCache cache;
  mmoe.Forward(in.x.view(), in.e.view(), in.e.view(), kBegin, true, &cache);
  mmoe.Backward(in.x.view(), in.e.view(), in.e.view(), kBegin, in.r.view(), MatView{}, de.view(),
                dg.view(), &cache);
  sum.Fill(7.0f);
  mmoe.Backward(in.x.view(), in.e.view(), in.e.view(), kBegin, in.r.view(), MatView{}, sum.view(),
                sum.view(), &cache);
  EXPECT_FALSE(testing::AllZero(dg));
  for (int64_t i = 0; i < sum.size(); ++i) EXPECT_NEAR(sum[i], de[i] + dg[i], 1e-4);
}

TEST(SapMmoeTest, AnEmptyBatch) {
  ParameterSet params;
  SapMmoe mmoe(MmoeConfig(1e-5f), kInput, kScenario, kGate, kDomains, "mmoe", &params, 38);
  const std::vector<Tensor> before = params.Snapshot();
  Tensor x({1, kInput}), e({1, kScenario}), g({1, kGate}), dy({1, kOutput});
  const std::vector<int64_t> begin = {0, 0, 0, 0};
  SapMmoeCache cache;
  const ConstMatView y = mmoe.Forward(x.view().Rows(0, 0), e.view().Rows(0, 0), g.view().Rows(0, 0),
                                      begin, true, &cache);
  EXPECT_EQ(y.rows, 0);
  EXPECT_EQ(y.cols, kOutput);
  params.ZeroGrad();
  mmoe.Backward(x.view().Rows(0, 0), e.view().Rows(0, 0), g.view().Rows(0, 0), begin,
                dy.view().Rows(0, 0), x.view().Rows(0, 0), e.view().Rows(0, 0), g.view().Rows(0, 0),
                &cache);
  const std::vector<Tensor> after = params.Snapshot();
  for (size_t p = 0; p < after.size(); ++p) {
    for (int64_t i = 0; i < after[p].size(); ++i) EXPECT_EQ(after[p][i], before[p][i]);
    if (!params.params()[p]->is_buffer) {
      EXPECT_TRUE(testing::AllZero(params.params()[p]->grad));
    }
  }
}

}  // namespace
}  // namespace moerec
