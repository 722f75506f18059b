#include "experts/model.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include "experts/test_util.h"

namespace moerec {
namespace {

const ModelShape kShape{6, 2, 2};

ModelConfig ValidMmoe() {
  ModelConfig c;
  c.set_domain_embedding_dim(2);
  MmoeConfig* m = c.mutable_mmoe();
  m->set_num_experts(3);
  m->mutable_expert()->add_dims(5);
  m->mutable_tower()->add_dims(3);
  return c;
}

ModelConfig ValidSharedBottom() {
  ModelConfig c;
  c.mutable_shared_bottom()->mutable_bottom()->add_dims(5);
  return c;
}

void ExpectInvalid(const ModelConfig& c, const ModelShape& shape, const std::string& message) {
  const auto model = CreateModel(c, shape, 1);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(model.status().message(), message);
}

TEST(CreateModelTest, BuildsEveryKind) {
  for (const ModelConfig& c : {ValidMmoe(), ValidSharedBottom()}) {
    auto model = CreateModel(c, kShape, 1);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    EXPECT_GT(model.value()->params()->NumValues(), 0);
    EXPECT_EQ(model.value()->shape().num_tasks, 2);
  }
}

TEST(CreateModelTest, RejectsBadConfigsNamingTheField) {
  ExpectInvalid(ModelConfig(), kShape,
                "model: no model kind is set; set one of shared_bottom, mmoe, ple, star, m3oe, "
                "ctr, topk_moe, smes, two_tower");
  ModelConfig c = ValidMmoe();
  c.mutable_mmoe()->set_num_experts(0);
  ExpectInvalid(c, kShape, "model.mmoe.num_experts must be in [1, 4096], got 0");
  c = ValidMmoe();
  c.mutable_mmoe()->mutable_expert()->clear_dims();
  ExpectInvalid(c, kShape, "model.mmoe.expert.dims must list at least one layer width");
  c = ValidMmoe();
  c.mutable_mmoe()->mutable_expert()->add_dims(0);
  ExpectInvalid(c, kShape, "model.mmoe.expert.dims[1] must be in [1, 65536], got 0");
  c = ValidMmoe();
  c.mutable_mmoe()->mutable_tower()->set_dropout(1.0f);
  ExpectInvalid(c, kShape, "model.mmoe.tower.dropout must be in [0, 1), got 1");
  c = ValidMmoe();
  c.mutable_mmoe()->mutable_tower()->set_dropout(-0.5f);
  ExpectInvalid(c, kShape, "model.mmoe.tower.dropout must be in [0, 1), got -0.5");
  c = ValidMmoe();
  c.set_domain_embedding_dim(-1);
  ExpectInvalid(c, kShape, "model.domain_embedding_dim must be in [0, 65536], got -1");
  c = ValidSharedBottom();
  c.mutable_shared_bottom()->mutable_bottom()->clear_dims();
  ExpectInvalid(c, kShape, "model.shared_bottom.bottom.dims must list at least one layer width");
  c = ValidSharedBottom();
  c.mutable_shared_bottom()->mutable_tower()->add_dims(-3);
  ExpectInvalid(c, kShape, "model.shared_bottom.tower.dims[0] must be in [1, 65536], got -3");
  ExpectInvalid(ValidMmoe(), ModelShape{6, 0, 2}, "data.num_domains must be >= 1, got 0");
  ExpectInvalid(ValidMmoe(), ModelShape{6, 2, 0}, "data.num_tasks must be >= 1, got 0");
  ExpectInvalid(ValidMmoe(), ModelShape{0, 2, 2}, "model input: num_features must be >= 1, got 0");
}

// The estimate's parameter count is exactly what the built model holds, for every kind, head
// indexing and layer option.
TEST(EstimateModelSizeTest, ParametersMatchTheBuiltModel) {
  // 3 slots of dim 3 and 3 dense features, for the field-wise CTR backbones.
  const ModelShape shape{
      .num_features = 12, .num_domains = 3, .num_tasks = 2, .slot_dims = {3, 3, 3}, .num_dense = 3};
  const std::string models[] = {
      "shared_bottom { bottom { dims: 8 dims: 4 } tower { dims: 3 } }",
      "domain_embedding_dim: 4 shared_bottom { bottom { dims: 8 layer_norm: true "
      "activation: ACT_PRELU } tower { } tower_index: BY_DOMAIN }",
      "mmoe { num_experts: 4 expert { dims: 6 dims: 5 } tower { dims: 3 } }",
      "domain_embedding_dim: 2 mmoe { num_experts: 3 expert { dims: 6 } tower { dims: 4 } "
      "gate_index: BY_DOMAIN_TASK tower_index: BY_DOMAIN_TASK }",
      "mmoe { num_experts: 5 expert { dims: 6 } tower { } gate_index: BY_DOMAIN "
      "tower_index: BY_DOMAIN }",
      "ple { expert { dims: 6 dims: 4 } tower { dims: 3 } }",
      "domain_embedding_dim: 2 ple { num_levels: 3 experts_per_task: 1 shared_experts: 3 "
      "expert { dims: 5 layer_norm: true } tower { } gate_index: BY_DOMAIN_TASK "
      "tower_index: BY_DOMAIN }",
      "ple { num_levels: 2 shared_experts: 0 expert { dims: 5 } tower { dims: 2 } "
      "gate_index: BY_DOMAIN tower_index: BY_DOMAIN_TASK }",
      "ple { num_levels: 1 expert { dims: 5 } tower { dims: 2 } gate_index: BY_DOMAIN }",
      "star { star { dims: 6 dims: 4 } tower { dims: 3 } }",
      "mlora { } shared_bottom { bottom { dims: 40 dims: 20 } tower { dims: 3 } }",
      "mlora { mode: MLORA reduce: 4 } shared_bottom { bottom { dims: 9 } tower { } }",
      "mlora { num_experts: 5 reduce: 2 gate_embedding_dim: 3 } shared_bottom { bottom { "
      "dims: 7 dims: 6 } tower { } tower_index: BY_DOMAIN }",
      "domain_embedding_dim: 3 star { star { dims: 5 activation: ACT_NONE } tower { } "
      "tower_index: BY_DOMAIN partitioned_norm: false aux { dims: 4 } }",
      "m3oe { star_dim: 7 representation { dims: 6 layer_norm: true } num_shared_experts: 3 "
      "expert { dims: 5 dims: 4 layer_norm: true } tower { dims: 3 layer_norm: true } }",
      "domain_embedding_dim: 2 m3oe { star_dim: 4 representation { dims: 6 dims: 5 } "
      "expert { dims: 3 } tower { } tower_index: BY_TASK }",
      "ctr { backbone: WIDE_DEEP dnn { dims: 6 dims: 4 } tower { } }",
      "mlora { reduce: 2 } ctr { backbone: DEEPFM dnn { dims: 6 dims: 4 } tower { } }",
      "mlora { mode: MLORA } ctr { backbone: FIBINET dnn { dims: 8 } tower { } }",
      "domain_embedding_dim: 2 ctr { backbone: WIDE_DEEP dnn { dims: 5 layer_norm: true } "
      "tower { dims: 3 } tower_index: BY_DOMAIN_TASK }",
      "ctr { backbone: DEEPFM dnn { dims: 6 dims: 4 } tower { } tower_index: BY_DOMAIN }",
      "domain_embedding_dim: 3 ctr { backbone: DEEPFM dnn { dims: 6 } tower { dims: 2 } }",
      "ctr { backbone: DCN dnn { dims: 6 } tower { } }",
      "domain_embedding_dim: 2 ctr { backbone: DCN dnn { dims: 6 dims: 3 } tower { dims: 2 } "
      "cross_layers: 2 cross_matrix: true }",
      "ctr { backbone: NFM dnn { dims: 6 } tower { } }",
      "domain_embedding_dim: 2 ctr { backbone: NFM dnn { dims: 6 activation: ACT_PRELU } "
      "tower { } tower_index: BY_DOMAIN }",
      "ctr { backbone: PNN dnn { dims: 6 } tower { } }",
      "ctr { backbone: PNN dnn { dims: 6 } tower { } product: OUTER }",
      "domain_embedding_dim: 2 ctr { backbone: PNN dnn { dims: 6 } tower { dims: 3 } "
      "product: BOTH }",
      "ctr { backbone: XDEEPFM dnn { dims: 6 } tower { } }",
      "domain_embedding_dim: 2 ctr { backbone: XDEEPFM dnn { dims: 6 } tower { } "
      "cin_layers: 4 cin_layers: 3 cin_layers: 2 }",
      "ctr { backbone: AUTOINT dnn { dims: 6 } tower { } }",
      "domain_embedding_dim: 2 ctr { backbone: AUTOINT dnn { dims: 6 } tower { } "
      "attention_layers: 2 attention_heads: 3 attention_head_dim: 4 attention_residual: false }",
      "ctr { backbone: FIBINET dnn { dims: 6 } tower { } }",
      "domain_embedding_dim: 2 ctr { backbone: FIBINET dnn { dims: 6 } tower { } "
      "bilinear_type: FIELD_ALL senet_reduction: 1 }",
      "ctr { backbone: FIBINET dnn { dims: 6 } tower { } bilinear_type: FIELD_EACH }",
  };
  for (const std::string& m : models) {
    ModelConfig config;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(m, &config)) << m;
    auto model = CreateModel(config, shape, 1);
    ASSERT_TRUE(model.ok()) << m << ": " << model.status();
    const ModelSize size = EstimateModelSize(config, shape);
    EXPECT_EQ(size.parameters, (*model)->params()->NumValues()) << m;
    EXPECT_GT(size.activations_per_sample, 0) << m;
  }
}

TEST(CreateModelTest, EmptyTowerIsALinearHead) {
  ModelConfig c = ValidMmoe();
  c.mutable_mmoe()->mutable_tower()->clear_dims();
  ASSERT_TRUE(CreateModel(c, kShape, 1).ok());
}

TEST(CreateModelTest, SameSeedSameModel) {
  for (const ModelConfig& c : {ValidMmoe(), ValidSharedBottom()}) {
    auto a = std::move(CreateModel(c, kShape, 5)).value();
    auto b = std::move(CreateModel(c, kShape, 5)).value();
    auto other = std::move(CreateModel(c, kShape, 6)).value();
    const auto& pa = a->params()->params();
    const auto& pb = b->params()->params();
    const auto& po = other->params()->params();
    ASSERT_EQ(pa.size(), pb.size());
    bool any_differs = false;
    for (size_t k = 0; k < pa.size(); ++k) {
      EXPECT_EQ(pa[k]->name, pb[k]->name);
      ASSERT_EQ(pa[k]->value.size(), pb[k]->value.size());
      for (int64_t i = 0; i < pa[k]->value.size(); ++i) {
        ASSERT_EQ(pa[k]->value[i], pb[k]->value[i]) << pa[k]->name;
        any_differs |= pa[k]->value[i] != po[k]->value[i];
      }
    }
    EXPECT_TRUE(any_differs);
    // Same outputs, bit for bit, on the same batch.
    testing::RandomBatch batch(kShape, {3, 4}, 2);
    batch.batch.seed = 3;
    Tensor la({7, 2}), lb({7, 2});
    a->Forward(batch.batch, la.view());
    b->Forward(batch.batch, lb.view());
    for (int i = 0; i < la.size(); ++i) EXPECT_EQ(la[i], lb[i]);
  }
}

TEST(CreateModelTest, EmptyBatch) {
  auto model = std::move(CreateModel(ValidMmoe(), kShape, 5)).value();
  testing::RandomBatch batch(kShape, {0, 0}, 2);
  Tensor logits({1, 2});
  model->Forward(batch.batch, MatView{logits.data(), 0, 2, 2});
  model->Backward(batch.batch, ConstMatView(logits.data(), 0, 2, 2), MatView{});
  for (const auto& p : model->params()->params()) EXPECT_TRUE(testing::AllZero(p->grad));
}

}  // namespace
}  // namespace moerec
