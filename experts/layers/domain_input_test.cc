#include "experts/layers/domain_input.h"

#include <gtest/gtest.h>

#include "experts/test_util.h"

namespace moerec {
namespace {

TEST(DomainInputTest, AppendsTheDomainEmbedding) {
  ParameterSet params;
  DomainInput input(3, 3, 2, "dom", &params, 1);
  EXPECT_EQ(input.output_dim(), 5);
  const Tensor& table = params.Find("dom.table")->value;
  Rng rng(1);
  Tensor f({6, 3});
  testing::FillNormal(&f, &rng);
  const std::vector<int64_t> begin = {0, 2, 2, 6};
  const ConstMatView out = input.Forward(f.view(), begin);
  for (int r = 0; r < 6; ++r) {
    const int d = r < 2 ? 0 : 2;
    for (int j = 0; j < 3; ++j) EXPECT_EQ(out.row(r)[j], f.at(r, j));
    for (int j = 0; j < 2; ++j) EXPECT_EQ(out.row(r)[3 + j], table.at(d, j));
  }
}

TEST(DomainInputTest, Gradients) {
  ParameterSet params;
  DomainInput input(3, 3, 2, "dom", &params, 1);
  Rng rng(2);
  Tensor f({6, 3}), r({6, 5}), df({6, 3});
  testing::FillNormal(&f, &rng);
  testing::FillNormal(&r, &rng);
  const std::vector<int64_t> begin = {0, 2, 2, 6};
  auto loss = [&] { return testing::Dot(input.Forward(f.view(), begin), r); };
  loss();
  MatView g = input.GradBuffer(6, df.view());
  ASSERT_EQ(g.cols, 5);
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 5; ++j) g.row(i)[j] = r.at(i, j);
  }
  input.Backward(begin, df.view());
  testing::ExpectGradientMatches(f.data(), df.data(), f.size(), loss, "dfeatures", 1);
  Parameter* table = params.Find("dom.table");
  testing::ExpectGradientMatches(table->value.data(), table->grad.data(), table->value.size(), loss,
                                 "table", 2);
  for (int j = 0; j < 2; ++j) EXPECT_EQ(table->grad.at(1, j), 0.0f);  // empty domain
}

TEST(DomainInputTest, NoEmbeddingPassesThrough) {
  ParameterSet params;
  DomainInput input(3, 2, 0, "dom", &params, 1);
  EXPECT_TRUE(params.params().empty());
  Tensor f({4, 3}), df({4, 3});
  EXPECT_EQ(input.Forward(f.view(), {0, 1, 4}).data, f.data());
  EXPECT_EQ(input.GradBuffer(4, df.view()).data, df.data());
  EXPECT_EQ(input.GradBuffer(4, MatView{}).data, nullptr);
}

}  // namespace
}  // namespace moerec
