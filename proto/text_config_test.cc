#include "proto/text_config.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace moerec {
namespace {

namespace fs = std::filesystem;

class TextConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("text_config_test." + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  static std::string Valid() {
    return R"(
      data {
        num_domains: 2 num_tasks: 2
        slots { name: "user_id" }
        slots { name: "item_id" }
        slots { name: "item_tag" table: "item_id" }
        train: "data/train" test: "data/test"
      }
      tables { name: "item_id" dim: 8 optimizer { type: ADAM } }
      embedding { dim: 12 }
      model { mmoe { expert { dims: 16 } tower { dims: 8 } } }
    )";
  }

  fs::path dir_;
};

TEST_F(TextConfigTest, LoadsResolvesPathsAndFillsTables) {
  const std::string path = Write("job.pbtxt", Valid());
  StatusOr<JobConfig> config = LoadJobConfig(path);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->data().train(0), (dir_ / "data/train").string());
  EXPECT_EQ(config->data().test(0), (dir_ / "data/test").string());
  // item_id listed (dim 8, Adam); user_id added from the defaults (dim 12, Adagrad); item_tag
  // shares item_id.
  ASSERT_EQ(config->tables_size(), 2);
  EXPECT_EQ(config->tables(0).name(), "item_id");
  EXPECT_EQ(config->tables(0).dim(), 8);
  EXPECT_EQ(config->tables(0).optimizer().type(), RowOptimizerConfig::ADAM);
  EXPECT_EQ(config->tables(1).name(), "user_id");
  EXPECT_EQ(config->tables(1).dim(), 12);
  EXPECT_EQ(config->tables(1).optimizer().type(), RowOptimizerConfig::ADAGRAD);
  EXPECT_EQ(FindTable(*config, "user_id"), 1);
  EXPECT_EQ(FindTable(*config, "nope"), -1);
}

TEST_F(TextConfigTest, SyntaxErrorNamesFileLineAndColumn) {
  const std::string path = Write("bad.pbtxt", "data {\n  num_domains: 2\n  num_taks: 1\n}\n");
  Status s = LoadJobConfig(path).status();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(path + ":3:"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("num_taks"), std::string::npos) << s.message();
}

TEST_F(TextConfigTest, MissingRequiredFieldIsNamed) {
  const std::string path = Write("req.pbtxt", "data { num_domains: 1 } model {}");
  Status s = LoadJobConfig(path).status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("num_tasks"), std::string::npos) << s.message();
}

TEST_F(TextConfigTest, MissingFileIsAnIoError) {
  Status s = LoadJobConfig((dir_ / "absent.pbtxt").string()).status();
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("absent.pbtxt"), std::string::npos);
}

struct BadCase {
  std::string edit;      // merged into the valid config (repeated fields append)
  std::string expected;  // substring of the message
};

TEST_F(TextConfigTest, ValidationNamesFieldAndAllowedValues) {
  const std::vector<BadCase> cases = {
      {"train { epochs: 0 }", "train.epochs: must be >= 1, got 0"},
      {"train { threads: -1 }", "train.threads: must be in [0, 256], got -1"},
      {"optimizer { learning_rate: -1 }", "optimizer.learning_rate: must be > 0, got -1"},
      {"optimizer { beta1: 1.0 }", "optimizer.beta1: must be in [0, 1)"},
      {"data { reader { batch_size: 0 } }", "data.reader.batch_size: must be >= 1, got 0"},
      {"data { domain_names: \"a\" }", "data.domain_names: has 1 entries; give none or exactly 2"},
      {"data { task_names: \"a\" task_names: \"a\" }", "data.task_names[1]: duplicate name"},
      {"data { task_names: \"a/b\" task_names: \"c\" }", "data.task_names[0]: must be a non-empty"},
      {"data { slots { name: \"user_id\" } }", "data.slots[3].name: duplicate slot name"},
      {"tables { name: \"x\" dim: 0 }", "tables[1].dim: must be in [1, 4096], got 0"},
      {"tables { name: \"item_id\" }", "tables[1].name: duplicate table name"},
      {"tables { name: \"y\" optimizer { learning_rate: 0 } }",
       "tables[1].optimizer.learning_rate: must be > 0"},
      {"cluster { num_workers: 0 }", "cluster.num_workers: must be >= 1, got 0"},
      {"cluster { ranks_per_node: -1 }",
       "cluster.ranks_per_node: must be >= 0 (0 = detect from MPI), got -1"},
      {"data { synthetic { task_base_rate: 0.5 } }",
       "data.synthetic.task_base_rate: has 1 entries; give none or one per task (2)"},
      {"data { synthetic { task_base_rate: 0.5 task_base_rate: 1.5 } }",
       "data.synthetic.task_base_rate[1]: must be in (0, 1), got 1.5"},
      {"data { synthetic { test_fraction: 0.7 } }", "data.synthetic.test_fraction: must be in"},
      {"model { domain_embedding_dim: -2 }", "model.domain_embedding_dim: must be >= 0, got -2"},
  };
  for (const BadCase& bad : cases) {
    JobConfig config;
    ASSERT_TRUE(ParseTextProto(Valid(), "valid", &config).ok());
    google::protobuf::TextFormat::Parser parser;
    parser.AllowPartialMessage(true);
    ASSERT_TRUE(parser.MergeFromString(bad.edit, &config)) << bad.edit;
    std::string text;
    google::protobuf::TextFormat::PrintToString(config, &text);
    const std::string path = Write("case.pbtxt", text);
    Status s = LoadJobConfig(path).status();
    ASSERT_FALSE(s.ok()) << bad.edit;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad.edit;
    EXPECT_NE(s.message().find(path + ": " + bad.expected), std::string::npos)
        << bad.edit << " -> " << s.message();
  }
}

TEST_F(TextConfigTest, ModelMustBeNamed) {
  std::string text = Valid();
  text.replace(text.find("model {"), std::string("model {").size(), "model { } xmodel {");
  // An unknown field is a parse error; a model without a kind is a validation error.
  EXPECT_FALSE(LoadJobConfig(Write("m1.pbtxt", text)).ok());
  std::string no_kind = Valid();
  const size_t at = no_kind.find("model {");
  no_kind = no_kind.substr(0, at) + "model { domain_embedding_dim: 4 }";
  Status s = LoadJobConfig(Write("m2.pbtxt", no_kind)).status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("model: names no model"), std::string::npos) << s.message();
}

TEST_F(TextConfigTest, NoFeaturesIsRefused) {
  Status s = LoadJobConfig(Write("nf.pbtxt", R"(
      data { num_domains: 1 num_tasks: 1 train: "t" }
      model { mmoe { expert { dims: 4 } tower { dims: 4 } } })"))
                 .status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("data.slots: the data has no features"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace moerec
