#include "embedding/table_spec.h"

#include <gtest/gtest.h>

#include <vector>

namespace moerec {
namespace {

// Hashes and shards are part of the on-disk and on-the-wire contract: a checkpoint written by
// one build is read by another, and every process of a job must route a key to the same
// server. These values were computed by an independent implementation of the documented
// functions (FNV-1a 64 then splitmix64's finaliser; HashCombine(a, b) = Mix64(a ^ Mix64(b));
// shard = high 64 bits of hash * num_shards), so a change of any of them fails here.
TEST(TableSpecTest, StableHashHasFixedValues) {
  EXPECT_EQ(StableHash(""), 0xc3817c016ba4ff30ULL);
  EXPECT_EQ(StableHash("user_id"), 0x844be6ab4e3b21bdULL);
  EXPECT_EQ(StableHash("item"), 0xc4b80c389898d924ULL);
}

TEST(TableSpecTest, ShardOfHasFixedValues) {
  const uint64_t table = StableHash("user_id");
  struct Case {
    uint64_t key;
    std::vector<int> shards;  // for 2, 3, 7 and 64 servers
  };
  const std::vector<Case> cases = {
      {0, {1, 2, 5, 51}},     {1, {0, 0, 0, 2}},
      {12345, {0, 0, 1, 16}}, {(1ULL << 63) + 7, {0, 1, 3, 28}},
      {~0ULL, {1, 1, 4, 41}},
  };
  const int counts[] = {2, 3, 7, 64};
  for (const Case& c : cases) {
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(ShardOf(table, c.key, counts[i]), c.shards[i])
          << "key " << c.key << " over " << counts[i] << " servers";
    }
  }
}

TEST(TableSpecTest, ShardsAreBalanced) {
  const int shards = 7;
  std::vector<int> count(shards);
  const uint64_t table = StableHash("t");
  for (uint64_t k = 0; k < 70000; ++k) {
    const int s = ShardOf(table, k, shards);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, shards);
    ++count[s];
  }
  for (int c : count) EXPECT_NEAR(c, 10000, 400);
  EXPECT_EQ(ShardOf(table, 5, 1), 0);
}

TEST(TableSpecTest, InitRowDependsOnTableKeyAndSeedOnly) {
  TableSpec spec;
  spec.name = "t";
  spec.name_hash = StableHash("t");
  spec.dim = 8;
  spec.seed = 3;
  spec.initializer.set_type(InitializerConfig::UNIFORM);
  spec.initializer.set_scale(0.5f);
  std::vector<float> a(8), b(8), c(8);
  InitRow(spec, 42, a.data());
  InitRow(spec, 42, b.data());
  EXPECT_EQ(a, b);
  InitRow(spec, 43, c.data());
  EXPECT_NE(a, c);
  for (float v : a) EXPECT_LE(std::abs(v), 0.5f);
  spec.seed = 4;
  InitRow(spec, 42, c.data());
  EXPECT_NE(a, c);
}

}  // namespace
}  // namespace moerec
