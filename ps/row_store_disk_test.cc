// RowStore over RocksDB with a cache budget much smaller than the tables: write-back, MultiGet
// misses, equality with a memory-only store, snapshots and metadata write-back.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/random.h"
#include "ps/internal/test_util.h"
#include "ps/local_store.h"
#include "ps/row_store.h"

namespace moerec {
namespace {

using testing::AllRows;
using testing::MakeSpec;
using testing::RowMap;
using testing::TempDir;

std::vector<TableSpec> MixedSpecs() {
  std::vector<TableSpec> specs = {
      MakeSpec("user", 4, RowOptimizerConfig::ADAGRAD, 0.1f),
      MakeSpec("item", 3, RowOptimizerConfig::ADAM, 0.01f),
      MakeSpec("ctx", 5, RowOptimizerConfig::FTRL, 0.05f),
      MakeSpec("bias", 2, RowOptimizerConfig::SGD, 0.5f),
  };
  specs[2].optimizer.set_l1(0.001f);
  // An age rule far away: metadata changes of this table are written back like values.
  specs[3].storage.set_evict_unseen_steps(1000000);
  return specs;
}

RowStoreOptions DiskOptions(const std::string& path, int64_t cache_bytes) {
  RowStoreOptions o;
  o.db_path = path;
  o.cache_bytes = cache_bytes;
  return o;
}

// Unique keys drawn with a skew from [0, universe).
std::vector<uint64_t> DrawKeys(Rng* rng, int n, uint64_t universe) {
  std::set<uint64_t> keys;
  while (static_cast<int>(keys.size()) < n) {
    const double u = rng->Uniform();
    keys.insert(Mix64(static_cast<uint64_t>(u * u * static_cast<double>(universe))));
  }
  std::vector<uint64_t> v(keys.begin(), keys.end());
  Shuffle(&v, rng);
  return v;
}

TEST(RowStoreDiskTest, TenTimesTheBudgetEqualsMemoryOnlyBitForBit) {
  TempDir dir;
  auto specs = MixedSpecs();
  auto memory = RowStore::Open(specs).value();
  auto disk = RowStore::Open(specs, DiskOptions(dir / "db", 200 << 10)).value();
  Rng rng(5);
  for (int step = 0; step < 60; ++step) {
    for (int t = 0; t < memory->num_tables(); ++t) {
      const int dim = specs[t].dim;
      const std::vector<uint64_t> keys = DrawKeys(&rng, 300, 6000);
      const int64_t n = static_cast<int64_t>(keys.size());
      std::vector<float> a(n * dim), b(n * dim);
      ASSERT_TRUE(memory->Pull(t, keys.data(), n, step, true, a.data()).ok());
      ASSERT_TRUE(disk->Pull(t, keys.data(), n, step, true, b.data()).ok());
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << "step " << step;
      std::vector<float> grads(n * dim);
      for (float& g : grads) g = static_cast<float>(rng.Normal());
      // Push a subset only, so some rows are pulled and never pushed.
      const int64_t pushed = n * 2 / 3;
      ASSERT_TRUE(memory->Push(t, keys.data(), pushed, step, grads.data()).ok());
      ASSERT_TRUE(disk->Push(t, keys.data(), pushed, step, grads.data()).ok());
    }
  }
  // The tables are far bigger than the cache: most rows went to RocksDB and came back.
  const CacheStats cache = disk->cache_stats();
  int64_t rows = 0;
  for (int t = 0; t < disk->num_tables(); ++t) {
    const TableStats s = disk->stats(t);
    EXPECT_EQ(s.rows, memory->stats(t).rows);
    EXPECT_GT(s.evicted, 0);
    EXPECT_GT(s.written_back, 0);
    EXPECT_GT(s.loaded, 0);
    EXPECT_EQ(s.cache_hits + s.cache_misses, memory->stats(t).pulled_keys * 5 / 3)
        << "every pulled and pushed key is a hit or a miss";
    rows += s.rows;
  }
  EXPECT_GT(rows, 8 * cache.resident_rows);
  EXPECT_LE(cache.resident_bytes, cache.budget_bytes);

  const RowMap want = AllRows(*memory);
  const RowMap got = AllRows(*disk);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [id, row] : want) {
    auto it = got.find(id);
    ASSERT_TRUE(it != got.end()) << "missing row " << id.second << " of table " << id.first;
    EXPECT_TRUE(row.SameValues(it->second)) << "row " << id.second << " of table " << id.first;
    if (id.first == 3) {
      EXPECT_TRUE(row == it->second) << "metadata of the table with a rule";
    }
  }
  // After dropping the cache every row is read back from RocksDB alone.
  ASSERT_TRUE(disk->Flush(/*drop_cache=*/true).ok());
  EXPECT_EQ(disk->cache_stats().resident_rows, 0);
  const RowMap reread = AllRows(*disk);
  for (const auto& [id, row] : want) EXPECT_TRUE(row.SameValues(reread.at(id)));
}

TEST(RowStoreDiskTest, EveryRowRoundTripsThroughWriteBackAndMultiGet) {
  TempDir dir;
  std::vector<TableSpec> specs = {MakeSpec("t", 8, RowOptimizerConfig::SGD, 0.25f)};
  const int64_t rows = 20000;
  auto store = RowStore::Open(specs, DiskOptions(dir / "db", 180 << 10)).value();
  std::vector<uint64_t> keys(rows);
  for (int64_t i = 0; i < rows; ++i) keys[i] = Mix64(i);
  std::vector<float> out(rows * 8), grads(rows * 8);
  for (int64_t i = 0; i < rows * 8; ++i) grads[i] = static_cast<float>(i % 97) - 48.0f;
  for (int64_t b = 0; b < rows; b += 1000) {
    ASSERT_TRUE(store->Pull(0, &keys[b], 1000, 1, true, &out[b * 8]).ok());
    ASSERT_TRUE(store->Push(0, &keys[b], 1000, 1, &grads[b * 8]).ok());
  }
  EXPECT_LT(store->stats(0).resident_rows * 10, rows + 1);
  // Evaluation pulls read every row back (from RocksDB for most) without caching them.
  const int64_t resident = store->stats(0).resident_rows;
  std::vector<float> back(rows * 8), init(8);
  ASSERT_TRUE(store->Pull(0, keys.data(), rows, 2, false, back.data()).ok());
  EXPECT_EQ(store->stats(0).resident_rows, resident);
  for (int64_t i = 0; i < rows; ++i) {
    InitRow(store->spec(0), keys[i], init.data());
    for (int j = 0; j < 8; ++j) {
      ASSERT_EQ(back[i * 8 + j], init[j] - 0.25f * grads[i * 8 + j]) << "row " << i;
    }
  }
  EXPECT_EQ(store->stats(0).rows, rows);
  EXPECT_EQ(store->stats(0).created, rows);
}

TEST(RowStoreDiskTest, PullOnlyRowsLeaveTheCacheWithoutWritesWhenNoRuleNeedsThem) {
  TempDir dir;
  std::vector<TableSpec> specs = {MakeSpec("t", 4, RowOptimizerConfig::SGD, 0.1f)};
  auto store = RowStore::Open(specs, DiskOptions(dir / "db", 64 << 10)).value();
  std::vector<uint64_t> keys(5000);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = i;
  std::vector<float> out(keys.size() * 4);
  ASSERT_TRUE(store->Pull(0, keys.data(), 5000, 1, true, out.data()).ok());
  ASSERT_TRUE(store->Flush(true).ok());
  const int64_t written = store->stats(0).written_back;
  EXPECT_EQ(written, 5000);  // every new row once
  for (int step = 2; step < 5; ++step) {
    ASSERT_TRUE(store->Pull(0, keys.data(), 5000, step, true, out.data()).ok());
  }
  EXPECT_EQ(store->stats(0).written_back, written);
  // Flush writes the metadata of resident rows all the same.
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->stats(0).written_back, written + store->stats(0).resident_rows);
}

TEST(RowStoreDiskTest, SnapshotRestoresEveryRowOfARocksDbStore) {
  TempDir dir;
  auto specs = MixedSpecs();
  auto store = LocalStore::Open(specs, DiskOptions(dir / "db", 64 << 10)).value();
  std::vector<TableRequest> req(1);
  req[0].table = 0;
  for (uint64_t k = 0; k < 3000; ++k) req[0].keys.push_back(k);
  req[0].values.resize(req[0].keys.size() * 4);
  ASSERT_TRUE(store->Wait(store->Pull(&req, 0, true)).ok());
  const RowMap before = AllRows(*store->rows());
  ASSERT_TRUE(store->SaveSnapshot().ok());
  for (float& v : req[0].values) v = 1.0f;
  ASSERT_TRUE(store->Wait(store->Push(&req, 1)).ok());
  EXPECT_FALSE(AllRows(*store->rows()).at({0, 7}).SameValues(before.at({0, 7})));
  ASSERT_TRUE(store->RestoreSnapshot().ok());
  const RowMap after = AllRows(*store->rows());
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [id, row] : before) EXPECT_TRUE(row.SameValues(after.at(id)));
  EXPECT_EQ(store->rows()->stats(0).rows, 3000);
}

TEST(RowStoreDiskTest, OpenClearsTheFolderAndRefusesBadOptions) {
  TempDir dir;
  std::vector<TableSpec> specs = {MakeSpec("t", 4, RowOptimizerConfig::SGD, 0.1f)};
  {
    auto store = RowStore::Open(specs, DiskOptions(dir / "db", 1 << 20)).value();
    const uint64_t key = 1;
    float out[4];
    ASSERT_TRUE(store->Pull(0, &key, 1, 0, true, out).ok());
    ASSERT_TRUE(store->Flush().ok());
  }
  auto store = RowStore::Open(specs, DiskOptions(dir / "db", 1 << 20)).value();
  EXPECT_EQ(AllRows(*store).size(), 0u);

  RowStoreOptions bad = DiskOptions(dir / "db2", 1 << 20);
  bad.shard = 3;
  bad.num_shards = 2;
  EXPECT_EQ(RowStore::Open(specs, bad).status().code(), StatusCode::kInvalidArgument);
  std::vector<TableSpec> wrong = specs;
  wrong[0].name_hash = 5;
  EXPECT_EQ(RowStore::Open(wrong).status().code(), StatusCode::kInvalidArgument);
  wrong = specs;
  wrong[0].storage.set_admission_min_count(0);
  Status s = RowStore::Open(wrong).status();
  EXPECT_NE(s.message().find("admission_min_count"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace moerec
