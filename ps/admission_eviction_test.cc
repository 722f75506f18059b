// Feature admission (k sightings), the eviction sweep (age, frequency) and their stats, on
// memory-only and on RocksDB-backed stores (with the rows out of the cache).
#include <gtest/gtest.h>

#include "core/random.h"
#include "ps/internal/admission_filter.h"
#include "ps/internal/test_util.h"
#include "ps/row_store.h"

namespace moerec {
namespace {

using testing::AllRows;
using testing::MakeSpec;
using testing::RowMap;
using testing::TempDir;

class AdmissionEvictionTest : public ::testing::TestWithParam<bool> {
 protected:
  // A store over one table of dim 2 with `storage`; RocksDB-backed when the parameter is true.
  std::unique_ptr<RowStore> Open(const TableStorageConfig& storage) {
    TableSpec spec = MakeSpec("t", 2, RowOptimizerConfig::SGD, 1.0f);
    spec.storage = storage;
    RowStoreOptions o;
    if (GetParam()) {
      o.db_path = dir_ / "db";
      o.cache_bytes = 1 << 20;
    }
    return RowStore::Open({spec}, o).value();
  }
  // Moves every row out of the cache on RocksDB-backed stores.
  void DropCache(RowStore* store) { ASSERT_TRUE(store->Flush(/*drop_cache=*/true).ok()); }

  std::vector<float> Pull(RowStore* store, const std::vector<uint64_t>& keys, int64_t step) {
    std::vector<float> out(keys.size() * 2);
    EXPECT_TRUE(store->Pull(0, keys.data(), keys.size(), step, true, out.data()).ok());
    return out;
  }

  TempDir dir_;
};

TEST_P(AdmissionEvictionTest, RowsAreCreatedOnTheKthSighting) {
  TableStorageConfig storage;
  storage.set_admission_min_count(3);
  auto store = Open(storage);
  const std::vector<uint64_t> keys = {10, 20};
  const float grads[] = {1, 1, 1, 1};
  for (int sighting = 1; sighting <= 2; ++sighting) {
    const std::vector<float> out = Pull(store.get(), keys, sighting);
    for (float v : out) EXPECT_EQ(v, 0.0f) << "held back rows read as zeros";
    ASSERT_TRUE(store->Push(0, keys.data(), 2, sighting, grads).ok());
    EXPECT_EQ(store->stats(0).rows, 0);
    DropCache(store.get());
  }
  EXPECT_EQ(store->stats(0).rejected, 4);
  EXPECT_EQ(store->stats(0).dropped_gradients, 4);
  // An evaluation pull neither counts nor creates, and reads a row not yet admitted as a
  // training pull does: zeros.
  std::vector<float> eval(4), init(2);
  ASSERT_TRUE(store->Pull(0, keys.data(), 2, 3, false, eval.data()).ok());
  EXPECT_EQ(store->stats(0).rows, 0);
  const std::vector<float> third = Pull(store.get(), keys, 3);
  EXPECT_EQ(store->stats(0).rows, 2);
  EXPECT_EQ(store->stats(0).admitted, 2);
  for (int i = 0; i < 2; ++i) {
    InitRow(store->spec(0), keys[i], init.data());
    EXPECT_EQ(third[2 * i], init[0]);
    EXPECT_EQ(third[2 * i + 1], init[1]);
    EXPECT_EQ(eval[2 * i], 0.0f);
    EXPECT_EQ(eval[2 * i + 1], 0.0f);
  }
  ASSERT_TRUE(store->Push(0, keys.data(), 2, 3, grads).ok());
  DropCache(store.get());
  const RowMap rows = AllRows(*store);
  EXPECT_EQ(rows.at({0, 10}).frequency, 3u);
  EXPECT_EQ(rows.at({0, 10}).updates, 1);
  EXPECT_EQ(rows.at({0, 10}).record[0], third[0] - 1.0f);
}

TEST_P(AdmissionEvictionTest, SweepDeletesRowsUnseenTooLong) {
  TableStorageConfig storage;
  storage.set_evict_unseen_steps(10);
  auto store = Open(storage);
  Pull(store.get(), {1, 2, 3}, 0);
  Pull(store.get(), {4, 5}, 15);
  const float grads[] = {0.5f, 0.5f};
  const uint64_t pushed = 2;
  ASSERT_TRUE(store->Push(0, &pushed, 1, 12, grads).ok());  // a push counts as seen
  DropCache(store.get());
  Pull(store.get(), {3}, 5);  // resident again, seen at 5
  ASSERT_TRUE(store->EvictStale(20).ok());
  const RowMap rows = AllRows(*store);
  EXPECT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows.count({0, 2}) && rows.count({0, 4}) && rows.count({0, 5}));
  EXPECT_EQ(store->stats(0).expired, 2);
  EXPECT_EQ(store->stats(0).rows, 3);
  // A deleted row comes back at its initial value.
  std::vector<float> init(2);
  InitRow(store->spec(0), 1, init.data());
  EXPECT_EQ(Pull(store.get(), {1}, 21), init);
  EXPECT_EQ(store->stats(0).created, 6);
}

TEST_P(AdmissionEvictionTest, SweepDeletesRowsSeenTooRarely) {
  TableStorageConfig storage;
  storage.set_evict_min_frequency(3);
  auto store = Open(storage);
  for (int step = 0; step < 3; ++step) {
    Pull(store.get(), {7, 8}, step);
    if (step == 0) Pull(store.get(), {9}, step);
    DropCache(store.get());
  }
  ASSERT_TRUE(store->EvictStale(3).ok());
  const RowMap rows = AllRows(*store);
  EXPECT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.count({0, 9}), 0u);
  EXPECT_EQ(store->stats(0).infrequent, 1);
  EXPECT_EQ(rows.at({0, 7}).frequency, 3u);
}

TEST_P(AdmissionEvictionTest, NoRulesNoSweep) {
  auto store = Open(TableStorageConfig());
  Pull(store.get(), {1, 2}, 0);
  ASSERT_TRUE(store->EvictStale(1000000).ok());
  EXPECT_EQ(store->stats(0).rows, 2);
}

INSTANTIATE_TEST_SUITE_P(Stores, AdmissionEvictionTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "RocksDb" : "Memory"; });

TEST(AdmissionFilterTest, CountsAreNeverBelowTheTruthAndMostlyExact) {
  AdmissionFilter filter(1 << 16, 3);
  std::vector<uint32_t> truth(3000);
  Rng rng(1);
  for (int i = 0; i < 6000; ++i) {
    const uint64_t id = rng.Below(truth.size());
    const uint32_t est = filter.Add(id);
    ++truth[id];
    ASSERT_GE(est, std::min<uint32_t>(truth[id], 255));
  }
  int exact = 0;
  for (size_t id = 0; id < truth.size(); ++id) exact += filter.Estimate(id) == truth[id];
  EXPECT_GT(exact, 2900);
}

TEST(AdmissionFilterTest, CountsHalveEveryEightTimesTheCounters) {
  AdmissionFilter filter(1024, 3);
  const uint64_t hot = 12345678;
  for (int i = 0; i < 40; ++i) filter.Add(hot);
  EXPECT_EQ(filter.Estimate(hot), 40u);
  for (int i = 0; i < 8 * 1024 - 41; ++i) filter.Add(7);  // saturates at 255
  EXPECT_EQ(filter.Estimate(hot), 40u);
  EXPECT_EQ(filter.Estimate(7), 255u);
  filter.Add(7);  // the 8192nd addition ages every counter
  EXPECT_EQ(filter.Estimate(hot), 20u);
  EXPECT_EQ(filter.Estimate(7), 127u);
}

}  // namespace
}  // namespace moerec
