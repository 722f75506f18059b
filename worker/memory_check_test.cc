#include "worker/memory_check.h"

#include <gtest/gtest.h>

#include <string>

#include "proto/text_config.h"

namespace moerec {
namespace {

JobConfig Parse(const std::string& model) {
  JobConfig config;
  const std::string text =
      "data { num_domains: 3 num_tasks: 2 slots { name: \"a\" } }\n"
      "model { " +
      model + " }\n";
  const Status s = ParseTextProto(text, "test", &config);
  EXPECT_TRUE(s.ok()) << s;
  return config;
}

ModelShape Shape() {
  ModelShape shape;
  shape.num_features = 48;
  shape.num_domains = 3;
  shape.num_tasks = 2;
  shape.slot_dims = {16, 16, 16};
  shape.num_dense = 0;
  return shape;
}

// The estimate's parameter count is exactly what the built model holds, for every kind of
// head indexing and layer option.
TEST(MemoryCheckTest, ParameterEstimateMatchesTheBuiltModel) {
  const std::string models[] = {
      "shared_bottom { bottom { dims: 32 dims: 16 } tower { dims: 8 } }",
      "domain_embedding_dim: 4 shared_bottom { bottom { dims: 32 layer_norm: true "
      "activation: ACT_PRELU } tower { } tower_index: BY_DOMAIN }",
      "mmoe { num_experts: 4 expert { dims: 24 dims: 12 } tower { dims: 6 } }",
      "domain_embedding_dim: 8 mmoe { num_experts: 3 expert { dims: 16 } tower { dims: 4 } "
      "gate_index: BY_DOMAIN_TASK tower_index: BY_DOMAIN_TASK }",
      "mmoe { num_experts: 5 expert { dims: 16 } tower { } gate_index: BY_DOMAIN "
      "tower_index: BY_DOMAIN }",
      "ctr { backbone: XDEEPFM dnn { dims: 32 dims: 16 } tower { } }",
  };
  for (const std::string& m : models) {
    const JobConfig config = Parse(m);
    auto model = CreateModel(config.model(), Shape(), 1);
    ASSERT_TRUE(model.ok()) << m << ": " << model.status();
    const ModelSize size = EstimateModelSize(config.model(), Shape());
    EXPECT_EQ(size.parameters, (*model)->params()->NumValues()) << m;
    EXPECT_GT(size.activations_per_sample, 0) << m;
  }
}

TEST(MemoryCheckTest, AHugeModelIsRefusedWithItsSizes) {
  JobConfig config = Parse("mmoe { num_experts: 8 expert { dims: 65536 dims: 65536 } tower { } }");
  const WorkerMemory m = EstimateWorkerMemory(config, Shape());
  // 8 experts x 65536 x 65536 weights of the second layer alone: 128 GiB of floats.
  EXPECT_GT(m.parameter_bytes, int64_t{128} << 30);
  const Status s = CheckWorkerMemory(config, Shape(), int64_t{24} << 30);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("24.0 GiB available"), std::string::npos) << s;
  EXPECT_NE(s.message().find("activations of a batch of 1024"), std::string::npos) << s;
}

TEST(MemoryCheckTest, ASmallModelFitsAndUnknownMemoryIsNotARefusal) {
  const JobConfig config = Parse("shared_bottom { bottom { dims: 32 } tower { } }");
  EXPECT_TRUE(CheckWorkerMemory(config, Shape(), int64_t{1} << 30).ok());
  EXPECT_TRUE(CheckWorkerMemory(Parse("mmoe { num_experts: 8 expert { dims: 65536 dims: 65536 } "
                                      "tower { } }"),
                                Shape(), -1)
                  .ok());
  EXPECT_GT(AvailableMemoryBytes(), 0);
}

}  // namespace
}  // namespace moerec
