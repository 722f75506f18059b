#include "experts/layers/mlp.h"

#include <gtest/gtest.h>

#include "core/parallel.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::Dot;
using testing::ExpectGradientMatches;
using testing::ExpectParameterGradients;

MlpConfig MakeConfig(std::vector<int> dims, Activation act, bool layer_norm, float dropout) {
  MlpConfig c;
  for (int d : dims) c.add_dims(d);
  c.set_activation(act);
  c.set_layer_norm(layer_norm);
  c.set_dropout(dropout);
  return c;
}

struct MlpCase {
  Activation act;
  bool layer_norm;
  int copies;
  float dropout;
};

class MlpGradientTest : public ::testing::TestWithParam<MlpCase> {};

TEST_P(MlpGradientTest, MatchesFiniteDifferences) {
  const MlpCase c = GetParam();
  ParameterSet params;
  const MlpConfig config = MakeConfig({6, 5, 4}, c.act, c.layer_norm, c.dropout);
  Mlp mlp(config, 7, c.copies, "mlp", &params, 21);
  MlpCache cache;
  Rng rng(5);
  const int64_t rows = 9;
  Tensor x({rows, 7}), r({rows, c.copies * 4}), dx({rows, 7});
  testing::FillNormal(&x, &rng);
  testing::FillNormal(&r, &rng);
  const bool training = c.dropout > 0.0f;  // the mask is fixed by the seed: still a function
  auto loss = [&] { return Dot(mlp.Forward(x.view(), training, 99, &cache), r); };
  loss();
  mlp.Backward(x.view(), r.view(), dx.view(), 0.0f, &cache);
  ExpectParameterGradients(&params, loss, 3);
  ExpectGradientMatches(x.data(), dx.data(), x.size(), loss, "dx", 4);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, MlpGradientTest,
    ::testing::Values(MlpCase{ACT_RELU, false, 1, 0.0f}, MlpCase{ACT_RELU, false, 3, 0.0f},
                      MlpCase{ACT_RELU, true, 1, 0.0f}, MlpCase{ACT_RELU, true, 3, 0.0f},
                      MlpCase{ACT_PRELU, false, 1, 0.0f}, MlpCase{ACT_PRELU, false, 3, 0.0f},
                      MlpCase{ACT_PRELU, true, 3, 0.0f}, MlpCase{ACT_NONE, false, 1, 0.0f},
                      MlpCase{ACT_NONE, true, 3, 0.0f}, MlpCase{ACT_RELU, false, 3, 0.3f},
                      MlpCase{ACT_PRELU, true, 2, 0.3f}, MlpCase{ACT_NONE, false, 2, 0.3f}));

// A bank of G copies computes exactly what G separate MLPs with the same weights compute.
TEST(MlpTest, CopiesAreIndependentMlps) {
  for (const bool layer_norm : {false, true}) {
    const MlpConfig config = MakeConfig({5, 3}, ACT_PRELU, layer_norm, 0.0f);
    ParameterSet bank_params;
    const int copies = 3;
    Mlp bank(config, 4, copies, "bank", &bank_params, 8);
    // Give the LayerNorm and PReLU parameters distinct values per copy.
    Rng rng(2);
    for (const auto& p : bank_params.params()) testing::FillNormal(&p->value, &rng, 0.5f);
    Tensor x({6, 4});
    testing::FillNormal(&x, &rng);
    MlpCache cache;
    const ConstMatView out = bank.Forward(x.view(), false, 0, &cache);
    for (int g = 0; g < copies; ++g) {
      ParameterSet single_params;
      Mlp single(config, 4, 1, "single", &single_params, 8);
      // Layer 0: column block g of the fused weight; later layers: slab g.
      const Tensor& w0 = bank_params.Find("bank.0.w")->value;
      Tensor& s0 = single_params.Find("single.0.w")->value;
      for (int i = 0; i < 4; ++i) {
        for (int o = 0; o < 5; ++o) s0.at(i, o) = w0.at(i, g * 5 + o);
      }
      const Tensor& w1 = bank_params.Find("bank.1.w")->value;
      Tensor& s1 = single_params.Find("single.1.w")->value;
      for (int i = 0; i < 5 * 3; ++i) s1[i] = w1[g * 15 + i];
      for (const char* what : {"b", "ln_gamma", "ln_beta", "prelu_alpha"}) {
        for (int l = 0; l < 2; ++l) {
          std::string suffix = ".";  // built with += : GCC 12 -Wrestrict misfires on +
          suffix += std::to_string(l);
          suffix += ".";
          suffix += what;
          Parameter* src = bank_params.Find("bank" + suffix);
          if (src == nullptr) continue;
          Tensor& dst = single_params.Find("single" + suffix)->value;
          for (int64_t i = 0; i < dst.size(); ++i) dst[i] = src->value[g * dst.size() + i];
        }
      }
      MlpCache single_cache;
      const ConstMatView want = single.Forward(x.view(), false, 0, &single_cache);
      for (int r = 0; r < 6; ++r) {
        for (int j = 0; j < 3; ++j) EXPECT_NEAR(out.row(r)[g * 3 + j], want.row(r)[j], 1e-5);
      }
    }
  }
}

TEST(MlpTest, DropoutOnlyInTrainingAndFixedBySeed) {
  ParameterSet with_params, without_params;
  Mlp with(MakeConfig({64, 32}, ACT_NONE, false, 0.5f), 8, 2, "m", &with_params, 4);
  Mlp without(MakeConfig({64, 32}, ACT_NONE, false, 0.0f), 8, 2, "m", &without_params, 4);
  Rng rng(1);
  Tensor x({40, 8});
  testing::FillNormal(&x, &rng);
  MlpCache c1, c2, c3;
  // Eval mode: dropout is the identity, whatever the seed.
  const ConstMatView eval = with.Forward(x.view(), false, 1, &c1);
  const ConstMatView plain = without.Forward(x.view(), true, 2, &c2);
  for (int64_t r = 0; r < eval.rows; ++r) {
    for (int64_t j = 0; j < eval.cols; ++j) ASSERT_EQ(eval.row(r)[j], plain.row(r)[j]);
  }
  // Training: about half of the last layer's outputs are dropped; same seed, same mask.
  Tensor first({40, 64});
  const ConstMatView t1 = with.Forward(x.view(), true, 7, &c1);
  int64_t zeros = 0;
  for (int64_t r = 0; r < t1.rows; ++r) {
    for (int64_t j = 0; j < t1.cols; ++j) {
      first[r * 64 + j] = t1.row(r)[j];
      zeros += t1.row(r)[j] == 0.0f;
    }
  }
  EXPECT_GT(zeros, 40 * 64 * 0.4);
  EXPECT_LT(zeros, 40 * 64 * 0.6);
  const ConstMatView t2 = with.Forward(x.view(), true, 7, &c3);
  const ConstMatView t3 = with.Forward(x.view(), true, 8, &c1);
  int64_t same = 0, differ = 0;
  for (int64_t r = 0; r < t2.rows; ++r) {
    for (int64_t j = 0; j < t2.cols; ++j) {
      same += t2.row(r)[j] == first[r * 64 + j];
      differ += t3.row(r)[j] != first[r * 64 + j];
    }
  }
  EXPECT_EQ(same, 40 * 64);
  EXPECT_GT(differ, 40 * 64 / 4);
}

// Large enough for the copy-parallel path: the thread count does not change the numbers.
TEST(MlpTest, ThreadCountDoesNotChangeResults) {
  const MlpConfig config = MakeConfig({64, 32}, ACT_RELU, false, 0.1f);
  const int64_t rows = 300;
  Rng rng(4);
  Tensor x({rows, 16}), dy({rows, 4 * 32});
  testing::FillNormal(&x, &rng);
  testing::FillNormal(&dy, &rng);
  std::vector<Tensor> outputs, grads;
  const int saved_threads = ComputeThreads();
  for (const int threads : {1, 2}) {
    SetComputeThreads(threads);
    ParameterSet params;
    Mlp mlp(config, 16, 4, "m", &params, 3);
    MlpCache cache;
    Tensor out({rows, 4 * 32}), dx({rows, 16});
    const ConstMatView y = mlp.Forward(x.view(), true, 5, &cache);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < y.cols; ++j) out.at(r, j) = y.row(r)[j];
    }
    mlp.Backward(x.view(), dy.view(), dx.view(), 0.0f, &cache);
    outputs.push_back(out);
    grads.push_back(dx);
    for (const auto& p : params.params()) grads.push_back(p->grad);
  }
  SetComputeThreads(saved_threads);
  auto expect_close = [](const Tensor& a, const Tensor& b) {
    ASSERT_EQ(a.size(), b.size());
    for (int64_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(a[i], b[i], 1e-5f * (1.0f + std::fabs(a[i])));
  };
  expect_close(outputs[0], outputs[1]);
  const size_t per_run = grads.size() / 2;
  for (size_t k = 0; k < per_run; ++k) expect_close(grads[k], grads[per_run + k]);
}

TEST(MlpTest, EmptyDimsIsIdentity) {
  ParameterSet params;
  Mlp mlp(MlpConfig(), 3, 1, "id", &params, 1);
  EXPECT_EQ(params.params().size(), 0u);
  EXPECT_EQ(mlp.output_dim(), 3);
  Tensor x({2, 3}), dy({2, 3}), dx({2, 3});
  Rng rng(1);
  testing::FillNormal(&x, &rng);
  testing::FillNormal(&dy, &rng);
  MlpCache cache;
  EXPECT_EQ(mlp.Forward(x.view(), true, 0, &cache).data, x.data());
  mlp.Backward(x.view(), dy.view(), dx.view(), 0.0f, &cache);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(dx[i], dy[i]);
  mlp.Backward(x.view(), dy.view(), dx.view(), 1.0f, &cache);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(dx[i], 2.0f * dy[i]);
}

TEST(MlpTest, ZeroRows) {
  ParameterSet params;
  Mlp mlp(MakeConfig({4}, ACT_RELU, true, 0.2f), 3, 2, "m", &params, 1);
  MlpCache cache;
  Tensor x({1, 3});
  const ConstMatView empty(x.data(), 0, 3, 3);
  const ConstMatView out = mlp.Forward(empty, true, 0, &cache);
  EXPECT_EQ(out.rows, 0);
  EXPECT_EQ(out.cols, 8);
  mlp.Backward(empty, ConstMatView(nullptr, 0, 8, 8), MatView{x.data(), 0, 3, 3}, 0.0f, &cache);
  for (const auto& p : params.params()) EXPECT_TRUE(testing::AllZero(p->grad)) << p->name;
}

}  // namespace
}  // namespace moerec
