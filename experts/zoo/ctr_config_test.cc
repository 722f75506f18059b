// The CTR backbones' config checks: every refusal with its exact message, and the shapes each
// backbone accepts.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <string>

#include "experts/model.h"
#include "experts/zoo/ctr.h"

namespace moerec {
namespace {

const ModelShape kShape{.num_features = 14,
                        .num_domains = 3,
                        .num_tasks = 2,
                        .slot_dims = {3, 3, 3, 3},
                        .slot_names = {"a", "b", "c", "d"},
                        .num_dense = 2};

ModelConfig Parse(const std::string& ctr) {
  ModelConfig c;
  const std::string text = "ctr { dnn { dims: 4 } tower { } " + ctr + " }";
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &c)) << text;
  return c;
}

void ExpectInvalid(const ModelConfig& c, const ModelShape& shape, const std::string& message) {
  const auto model = CreateModel(c, shape, 1);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(model.status().message(), message);
}

TEST(CtrConfigTest, RejectsBadConfigsNamingTheField) {
  ExpectInvalid(Parse("backbone: DEEPFM cross_layers: 2"), kShape,
                "model.ctr.cross_layers applies to backbone DCN, not DEEPFM");
  ExpectInvalid(Parse("backbone: DCN cross_matrix: true product: OUTER"), kShape,
                "model.ctr.product applies to backbone PNN, not DCN");
  ExpectInvalid(Parse("backbone: PNN cin_layers: 4"), kShape,
                "model.ctr.cin_layers applies to backbone XDEEPFM, not PNN");
  ExpectInvalid(Parse("backbone: FIBINET attention_residual: false"), kShape,
                "model.ctr.attention_residual applies to backbone AUTOINT, not FIBINET");
  ExpectInvalid(Parse("backbone: AUTOINT bilinear_type: FIELD_ALL"), kShape,
                "model.ctr.bilinear_type applies to backbone FIBINET, not AUTOINT");
  ExpectInvalid(Parse("backbone: DCN cross_layers: 0"), kShape,
                "model.ctr.cross_layers must be in [1, 64], got 0");
  ExpectInvalid(Parse("backbone: XDEEPFM cin_layers: 8 cin_layers: 0"), kShape,
                "model.ctr.cin_layers[1] must be in [1, 4096], got 0");
  ExpectInvalid(Parse("backbone: AUTOINT attention_layers: 0"), kShape,
                "model.ctr.attention_layers must be in [1, 64], got 0");
  ExpectInvalid(Parse("backbone: AUTOINT attention_heads: 0"), kShape,
                "model.ctr.attention_heads must be in [1, 256], got 0");
  ExpectInvalid(Parse("backbone: AUTOINT attention_head_dim: 5000"), kShape,
                "model.ctr.attention_head_dim must be in [1, 4096], got 5000");
  ExpectInvalid(Parse("backbone: AUTOINT attention_heads: 256 attention_head_dim: 4096"), kShape,
                "model.ctr: attention_heads * attention_head_dim must be in [1, 65536], got "
                "1048576");
  ExpectInvalid(Parse("backbone: FIBINET senet_reduction: 0"), kShape,
                "model.ctr.senet_reduction must be in [1, 65536], got 0");
  ModelConfig c = Parse("backbone: NFM");
  c.mutable_ctr()->mutable_dnn()->clear_dims();
  ExpectInvalid(c, kShape, "model.ctr.dnn.dims must list at least one layer width");
  c = Parse("backbone: NFM");
  c.mutable_ctr()->mutable_tower()->set_dropout(1.0f);
  ExpectInvalid(c, kShape, "model.ctr.tower.dropout must be in [0, 1), got 1");
}

TEST(CtrConfigTest, FieldWiseBackbonesNeedEqualSlotDims) {
  ModelShape uneven = kShape;
  uneven.slot_dims = {3, 5, 3, 1};
  for (const char* b : {"DEEPFM", "NFM", "PNN", "XDEEPFM", "AUTOINT", "FIBINET"}) {
    ExpectInvalid(Parse(std::string("backbone: ") + b), uneven,
                  "model.ctr: field-wise layers need every slot at the same dim; slot 'a' has 3, "
                  "slot 'b' 5");
  }
  // Wide&Deep and DCN read x as one vector.
  for (const char* b : {"WIDE_DEEP", "DCN"}) {
    EXPECT_TRUE(CreateModel(Parse(std::string("backbone: ") + b), uneven, 1).ok()) << b;
    EXPECT_TRUE(CreateModel(Parse(std::string("backbone: ") + b), ModelShape{14, 3, 2}, 1).ok())
        << b;
  }
  uneven.slot_names.clear();
  ExpectInvalid(Parse("backbone: DEEPFM"), uneven,
                "model.ctr: field-wise layers need every slot at the same dim; slot 0 has 3, "
                "slot 1 5");
  ExpectInvalid(Parse("backbone: PNN"), ModelShape{14, 3, 2},
                "model.ctr: backbone PNN has field-wise layers, which need the widths of the "
                "slots; the model input has none");
  const ModelShape one_slot{
      .num_features = 5, .num_domains = 3, .num_tasks = 2, .slot_dims = {3}, .num_dense = 2};
  ExpectInvalid(Parse("backbone: FIBINET"), one_slot,
                "model.ctr: backbone FIBINET has field-wise layers, which need at least 2 slots, "
                "got 1");
}

TEST(CtrConfigTest, TheSlotLayoutMustCoverTheFeatures) {
  ModelShape shape = kShape;
  shape.num_features = 15;
  ExpectInvalid(Parse("backbone: DEEPFM"), shape,
                "model input: 4 slots and 2 dense features make 14 columns, not num_features 15");
  shape = kShape;
  shape.slot_dims[2] = 0;
  shape.num_dense = 5;
  ExpectInvalid(Parse("backbone: WIDE_DEEP"), shape,
                "model input: the width of slot 'c' must be >= 1, got 0");
}

// The defaults of every backbone build, and the layout's widths are the built model's.
TEST(CtrConfigTest, EveryBackboneBuildsWithItsDefaults) {
  for (const char* b :
       {"WIDE_DEEP", "DEEPFM", "DCN", "NFM", "PNN", "XDEEPFM", "AUTOINT", "FIBINET"}) {
    const ModelConfig c = Parse(std::string("backbone: ") + b);
    auto model = CreateModel(c, kShape, 1);
    ASSERT_TRUE(model.ok()) << b << ": " << model.status();
    EXPECT_EQ(EstimateModelSize(c, kShape).parameters, (*model)->params()->NumValues()) << b;
    EXPECT_NE((*model)->params()->Find("dnn.0.w"), nullptr) << b;
  }
}

}  // namespace
}  // namespace moerec
