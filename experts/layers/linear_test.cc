#include "experts/layers/linear.h"

#include <gtest/gtest.h>

#include "experts/layers/init.h"
#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::Dot;
using testing::ExpectGradientMatches;
using testing::ExpectParameterGradients;

TEST(LinearTest, ForwardIsXWPlusB) {
  ParameterSet params;
  Linear layer(&params, "lin", 3, 2, 7);
  Tensor x({2, 3});
  for (int i = 0; i < 6; ++i) x[i] = static_cast<float>(i) - 2.5f;
  Tensor y({2, 2});
  layer.Forward(x.view(), y.view());
  const Tensor& w = layer.weight()->value;
  const Tensor& b = layer.bias()->value;
  for (int r = 0; r < 2; ++r) {
    for (int o = 0; o < 2; ++o) {
      float want = b[o];
      for (int i = 0; i < 3; ++i) want += x.at(r, i) * w.at(i, o);
      EXPECT_NEAR(y.at(r, o), want, 1e-5);
    }
  }
}

TEST(LinearTest, InitIsPyTorchUniformAndDeterministic) {
  ParameterSet a, b, c;
  Linear la(&a, "lin", 64, 32, 1), lb(&b, "lin", 64, 32, 1), lc(&c, "lin", 64, 32, 2);
  const float bound = LinearInitBound(64);
  float max_abs = 0.0f;
  bool differs = false;
  for (int64_t i = 0; i < la.weight()->value.size(); ++i) {
    EXPECT_EQ(la.weight()->value[i], lb.weight()->value[i]);
    differs |= la.weight()->value[i] != lc.weight()->value[i];
    max_abs = std::max(max_abs, std::fabs(la.weight()->value[i]));
  }
  EXPECT_TRUE(differs);
  EXPECT_LE(max_abs, bound);
  EXPECT_GT(max_abs, 0.8f * bound);  // spread over the whole range
  EXPECT_FALSE(testing::AllZero(la.bias()->value));
}

TEST(LinearTest, Gradients) {
  ParameterSet params;
  Linear layer(&params, "lin", 5, 4, 3);
  Rng rng(11);
  Tensor x({6, 5}), r({6, 4}), y({6, 4}), dx({6, 5});
  testing::FillNormal(&x, &rng);
  testing::FillNormal(&r, &rng);
  auto loss = [&] {
    layer.Forward(x.view(), y.view());
    return Dot(y.view(), r);
  };
  loss();
  layer.Backward(x.view(), r.view(), dx.view());
  ExpectParameterGradients(&params, loss, 1);
  ExpectGradientMatches(x.data(), dx.data(), x.size(), loss, "dx", 2);

  // dx_beta = 1 adds.
  Tensor dx2 = dx;
  layer.Backward(x.view(), r.view(), dx2.view(), 1.0f);
  for (int64_t i = 0; i < dx.size(); ++i) EXPECT_FLOAT_EQ(dx2[i], 2.0f * dx[i]);
}

TEST(LinearTest, ColumnSubsetMatchesFullOutput) {
  ParameterSet params;
  Linear layer(&params, "lin", 4, 3, 5);
  Rng rng(3);
  Tensor x({5, 4}), full({5, 3}), part({5, 1});
  testing::FillNormal(&x, &rng);
  layer.Forward(x.view(), full.view());
  layer.Forward(x.view(), part.view(), 2);
  for (int r = 0; r < 5; ++r) EXPECT_FLOAT_EQ(part.at(r, 0), full.at(r, 2));

  // Backward on column 2 touches only column 2 of W and b.
  Tensor dy({5, 1}), dx({5, 4});
  testing::FillNormal(&dy, &rng);
  layer.Backward(x.view(), dy.view(), dx.view(), 0.0f, 2);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(layer.weight()->grad.at(i, 0), 0.0f);
    EXPECT_EQ(layer.weight()->grad.at(i, 1), 0.0f);
    EXPECT_NE(layer.weight()->grad.at(i, 2), 0.0f);
  }
  EXPECT_EQ(layer.bias()->grad[0], 0.0f);
  EXPECT_NE(layer.bias()->grad[2], 0.0f);
}

}  // namespace
}  // namespace moerec
