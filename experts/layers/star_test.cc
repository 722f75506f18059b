#include "experts/layers/star.h"

#include <gtest/gtest.h>

#include <cmath>

#include "experts/test_util.h"

namespace moerec {
namespace {

// Rows per domain {3, 0, 4}: domain 1 is empty.
const std::vector<int64_t> kBegin = {0, 3, 3, 7};
const std::vector<int32_t> kDomain = {0, 0, 0, 2, 2, 2, 2};

TEST(StarMlpTest, MatchesTheFormulaPerDomain) {
  for (const Activation act : {ACT_RELU, ACT_NONE}) {
    ParameterSet params;
    MlpConfig c;
    c.add_dims(4);
    c.set_activation(act);
    StarMlp star(c, 3, 3, "star", &params, 1);
    testing::PerturbParameters(&params, 2);
    Rng rng(3);
    Tensor x({7, 3});
    testing::FillNormal(&x, &rng);
    StarCache cache;
    const ConstMatView y = star.Forward(x.view(), kBegin, &cache);
    const Tensor& w = params.Find("star.0.w")->value;
    const Tensor& b = params.Find("star.0.b")->value;
    const Tensor& dw = params.Find("star.0.domain_w")->value;
    const Tensor& db = params.Find("star.0.domain_b")->value;
    for (int r = 0; r < 7; ++r) {
      const int d = kDomain[r];
      for (int k = 0; k < 4; ++k) {
        double v = b[k] + db[d * 4 + k];
        for (int j = 0; j < 3; ++j) v += x.at(r, j) * w[j * 4 + k] * dw[(d * 3 + j) * 4 + k];
        if (act == ACT_RELU) v = std::max(v, 0.0);
        EXPECT_NEAR(y.row(r)[k], v, 1e-5) << r << " " << k;
      }
    }
  }
}

TEST(StarMlpTest, Gradients) {
  for (const Activation act : {ACT_RELU, ACT_NONE}) {
    ParameterSet params;
    MlpConfig c;
    c.add_dims(5);
    c.add_dims(3);
    c.set_activation(act);
    StarMlp star(c, 4, 3, "star", &params, 1);
    testing::PerturbParameters(&params, 4);
    Rng rng(5);
    Tensor x({7, 4}), r({7, 3}), dx({7, 4});
    testing::FillNormal(&x, &rng);
    testing::FillNormal(&r, &rng);
    StarCache cache;
    auto loss = [&] { return testing::Dot(star.Forward(x.view(), kBegin, &cache), r); };
    loss();
    params.ZeroGrad();
    star.Backward(x.view(), kBegin, r.view(), dx.view(), 0.0f, &cache);
    testing::ExpectParameterGradients(&params, loss, 6);
    testing::ExpectGradientMatches(x.data(), dx.data(), x.size(), loss, "dx", 7);
    // The empty domain's weights get nothing.
    const Tensor& g = params.Find("star.0.domain_w")->grad;
    for (int i = 0; i < 4 * 5; ++i) EXPECT_EQ(g[4 * 5 + i], 0.0f);
    // dx_beta = 1 adds.
    Tensor dx2({7, 4});
    dx2.Fill(1.0f);
    star.Backward(x.view(), kBegin, r.view(), dx2.view(), 1.0f, &cache);
    for (int64_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx2[i], dx[i] + 1.0f, 1e-5);
  }
}

TEST(PartitionedNormTest, TrainingUsesEachDomainsBatchStatisticsEvalTheRunningOnes) {
  ParameterSet params;
  PartitionedNormOptions options;
  options.momentum = 0.5f;
  PartitionedNorm norm(2, 3, options, "pn", &params);
  testing::PerturbParameters(&params, 8);
  Rng rng(9);
  Tensor x({7, 2});
  testing::FillNormal(&x, &rng);
  PartitionedNormCache cache;
  const ConstMatView y = norm.Forward(x.view(), kDomain.data(), true, &cache);
  const Tensor& g = params.Find("pn.gamma")->value;
  const Tensor& gd = params.Find("pn.domain_gamma")->value;
  const Tensor& b = params.Find("pn.beta")->value;
  const Tensor& bd = params.Find("pn.domain_beta")->value;
  const Tensor& rm = params.Find("pn.running_mean")->value;
  const Tensor& rv = params.Find("pn.running_var")->value;
  for (const int d : {0, 2}) {
    const int r0 = d == 0 ? 0 : 3, n = d == 0 ? 3 : 4;
    for (int c = 0; c < 2; ++c) {
      double mean = 0.0, var = 0.0;
      for (int r = r0; r < r0 + n; ++r) mean += x.at(r, c) / n;
      for (int r = r0; r < r0 + n; ++r) var += (x.at(r, c) - mean) * (x.at(r, c) - mean) / n;
      for (int r = r0; r < r0 + n; ++r) {
        const double want =
            (x.at(r, c) - mean) / std::sqrt(var + 1e-5) * g[c] * gd.at(d, c) + b[c] + bd.at(d, c);
        EXPECT_NEAR(y.row(r)[c], want, 1e-4);
      }
      EXPECT_NEAR(rm.at(d, c), 0.5 * mean, 1e-5);
      EXPECT_NEAR(rv.at(d, c), 0.5 + 0.5 * var * n / (n - 1), 1e-5);
    }
  }
  // Domain 1 had no rows: its statistics stay.
  EXPECT_EQ(rm.at(1, 0), 0.0f);
  EXPECT_EQ(rv.at(1, 0), 1.0f);
  const ConstMatView e = norm.Forward(x.view(), kDomain.data(), false, &cache);
  for (int r = 0; r < 7; ++r) {
    const int d = kDomain[r];
    for (int c = 0; c < 2; ++c) {
      const double want =
          (x.at(r, c) - rm.at(d, c)) / std::sqrt(rv.at(d, c) + 1e-5) * g[c] * gd.at(d, c) + b[c] +
          bd.at(d, c);
      EXPECT_NEAR(e.row(r)[c], want, 1e-4);
    }
  }
}

TEST(PartitionedNormTest, Gradients) {
  for (const bool training : {true, false}) {
    ParameterSet params;
    PartitionedNorm norm(3, 3, PartitionedNormOptions(), "pn", &params);
    testing::PerturbParameters(&params, 10);
    Rng rng(11);
    Tensor x({7, 3}), r({7, 3}), dx({7, 3});
    testing::FillNormal(&x, &rng);
    testing::FillNormal(&r, &rng);
    PartitionedNormCache cache;
    auto loss = [&] {
      return testing::Dot(norm.Forward(x.view(), kDomain.data(), training, &cache), r);
    };
    loss();
    params.ZeroGrad();
    norm.Backward(x.view(), kDomain.data(), r.view(), dx.view(), &cache);
    testing::ExpectParameterGradients(&params, loss, 12, {}, testing::GradCheckOptions{24, 5e-3});
    testing::ExpectGradientMatches(x.data(), dx.data(), x.size(), loss, "dx", 13,
                                   testing::GradCheckOptions{24, 5e-3});
    // Without an input gradient the parameters still get theirs.
    params.ZeroGrad();
    norm.Backward(x.view(), kDomain.data(), r.view(), MatView{}, &cache);
    EXPECT_FALSE(testing::AllZero(params.Find("pn.domain_gamma")->grad));
  }
}

}  // namespace
}  // namespace moerec
