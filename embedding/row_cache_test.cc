#include "embedding/row_cache.h"

#include <gtest/gtest.h>

#include "ps/local_store.h"

namespace moerec {
namespace {

std::vector<TableSpec> Specs() {
  std::vector<TableSpec> specs(1);
  specs[0].name = "t";
  specs[0].dim = 2;
  specs[0].optimizer.set_type(RowOptimizerConfig::SGD);
  specs[0].optimizer.set_learning_rate(1.0f);
  specs[0].seed = 1;
  specs[0].name_hash = StableHash("t");
  return specs;
}

std::vector<TableRequest> Request(std::vector<uint64_t> keys) {
  std::vector<TableRequest> r(1);
  r[0].table = 0;
  r[0].keys = std::move(keys);
  r[0].values.resize(r[0].keys.size() * 2);
  return r;
}

TEST(CachingStoreTest, ServesRowsUpToTheStalenessBoundThenRefreshes) {
  auto inner = LocalStore::Open(Specs()).value();
  CachingStore cache(inner.get(), Specs(), /*staleness=*/2, /*capacity_rows=*/100);
  auto first = Request({7, 8});
  ASSERT_TRUE(cache.Wait(cache.Pull(&first, 0, true)).ok());
  EXPECT_EQ(cache.stats().misses, 2);
  // A gradient moves the server's row by -1 in each coordinate.
  auto grad = Request({7});
  grad[0].values = {1.0f, 1.0f};
  ASSERT_TRUE(cache.Wait(cache.Push(&grad, 0)).ok());
  // Steps 1 and 2: the cached (stale) row; no pull reaches the inner store.
  for (int64_t step : {1, 2}) {
    auto r = Request({7});
    ASSERT_TRUE(cache.Wait(cache.Pull(&r, step, true)).ok());
    EXPECT_EQ(r[0].values[0], first[0].values[0]) << "step " << step;
  }
  EXPECT_EQ(cache.stats().hits, 2);
  EXPECT_EQ(inner->rows()->stats(0).pulled_keys, 2);
  // Step 3 is past the bound: the fresh row is pulled.
  auto fresh = Request({7, 8});
  ASSERT_TRUE(cache.Wait(cache.Pull(&fresh, 3, true)).ok());
  EXPECT_FLOAT_EQ(fresh[0].values[0], first[0].values[0] - 1.0f);
  EXPECT_FLOAT_EQ(fresh[0].values[2], first[0].values[2]);
  // Evaluation pulls always go through.
  auto eval = Request({7});
  const int64_t before = cache.stats().hits;
  ASSERT_TRUE(cache.Wait(cache.Pull(&eval, 4, false)).ok());
  EXPECT_EQ(cache.stats().hits, before);
}

TEST(CachingStoreTest, StalenessZeroNeverServesFromTheCache) {
  auto inner = LocalStore::Open(Specs()).value();
  CachingStore cache(inner.get(), Specs(), 0, 10);
  for (int64_t step = 0; step < 3; ++step) {
    auto r = Request({1, 2, 3});
    ASSERT_TRUE(cache.Wait(cache.Pull(&r, step, true)).ok());
  }
  EXPECT_EQ(cache.stats().hits, 0);
  EXPECT_EQ(inner->rows()->stats(0).pulled_keys, 9);
}

TEST(CachingStoreTest, AFullCacheReplacesTheOldestRows) {
  auto inner = LocalStore::Open(Specs()).value();
  CachingStore cache(inner.get(), Specs(), 100, /*capacity_rows=*/3);
  auto a = Request({1, 2, 3});
  ASSERT_TRUE(cache.Wait(cache.Pull(&a, 0, true)).ok());
  auto b = Request({4});  // replaces key 1
  ASSERT_TRUE(cache.Wait(cache.Pull(&b, 1, true)).ok());
  auto c = Request({1, 2, 3, 4});
  ASSERT_TRUE(cache.Wait(cache.Pull(&c, 2, true)).ok());
  EXPECT_EQ(cache.stats().hits, 3);    // 2, 3, 4
  EXPECT_EQ(cache.stats().misses, 5);  // 1, 2, 3, then 4, then 1 again
  // Every value is the right row, cached or not.
  auto direct = Request({1, 2, 3, 4});
  ASSERT_TRUE(inner->Wait(inner->Pull(&direct, 2, false)).ok());
  EXPECT_EQ(c[0].values, direct[0].values);
}

TEST(CachingStoreTest, RestoreEmptiesTheCache) {
  auto inner = LocalStore::Open(Specs()).value();
  CachingStore cache(inner.get(), Specs(), 100, 10);
  auto r = Request({5});
  ASSERT_TRUE(cache.Wait(cache.Pull(&r, 0, true)).ok());
  ASSERT_TRUE(cache.SaveSnapshot().ok());
  ASSERT_TRUE(cache.RestoreSnapshot().ok());
  auto again = Request({5});
  ASSERT_TRUE(cache.Wait(cache.Pull(&again, 1, true)).ok());
  EXPECT_EQ(cache.stats().hits, 0);
}

}  // namespace
}  // namespace moerec
