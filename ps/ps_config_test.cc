#include "proto/ps_config.h"

#include <gtest/gtest.h>

#include "ps/row_store.h"

namespace moerec {
namespace {

TEST(PsConfigTest, DefaultsAreValid) {
  JobConfig config;
  config.add_tables()->set_name("user");
  EXPECT_TRUE(ValidatePsConfig(config, "job.pbtxt").ok());
}

TEST(PsConfigTest, BadFieldsAreNamedWithTheirAllowedValues) {
  struct Case {
    std::function<void(JobConfig*)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](JobConfig* c) { c->mutable_ps()->set_cache_mb(0); },
       "job.pbtxt: ps.cache_mb: must be >= 1, got 0"},
      {[](JobConfig* c) { c->mutable_ps()->mutable_rocksdb()->set_block_size_kb(0); },
       "job.pbtxt: ps.rocksdb.block_size_kb: must be in [1, 1024], got 0"},
      {[](JobConfig* c) { c->mutable_ps()->mutable_rocksdb()->set_bloom_bits_per_key(-1); },
       "ps.rocksdb.bloom_bits_per_key: must be in [0, 64], got -1"},
      {[](JobConfig* c) { c->mutable_tables(1)->mutable_storage()->set_admission_min_count(300); },
       "job.pbtxt: tables[1].storage.admission_min_count: must be in [1, 255], got 300"},
      {[](JobConfig* c) { c->mutable_tables(0)->mutable_storage()->set_evict_unseen_steps(-2); },
       "tables[0].storage.evict_unseen_steps: must be >= 0, got -2"},
      {[](JobConfig* c) {
         c->mutable_embedding()->mutable_storage()->set_admission_filter_counters(10);
       },
       "embedding.storage.admission_filter_counters: must be in [1024, "},
      {[](JobConfig* c) { c->mutable_ps()->set_evict_every_steps(-1); },
       "ps.evict_every_steps: must be >= 0, got -1"},
  };
  for (const Case& k : cases) {
    JobConfig config;
    config.add_tables()->set_name("user");
    config.add_tables()->set_name("item");
    k.edit(&config);
    const Status s = ValidatePsConfig(config, "job.pbtxt");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(k.message), std::string::npos) << s.message();
  }
}

TEST(PsConfigTest, ServerConfigBecomesStoreOptions) {
  ServerConfig config;
  config.set_cache_mb(3);
  config.set_db_dir("/data/ps");
  config.mutable_rocksdb()->set_bloom_bits_per_key(12);
  const RowStoreOptions o = RowStoreOptionsFromConfig(config, 2, 4);
  EXPECT_EQ(o.cache_bytes, 3 << 20);
  EXPECT_EQ(o.db_path, "/data/ps/shard-2");
  EXPECT_EQ(o.rocksdb.bloom_bits_per_key(), 12);
  EXPECT_EQ(o.shard, 2);
  EXPECT_EQ(o.num_shards, 4);
  EXPECT_TRUE(RowStoreOptionsFromConfig(ServerConfig(), 0, 1).db_path.empty());
}

}  // namespace
}  // namespace moerec
