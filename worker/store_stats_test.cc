#include "worker/store_stats.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "core/temp_dir.h"
#include "embedding/row_cache.h"
#include "ps/local_store.h"

namespace moerec {
namespace {

using testing::TempDir;

std::vector<TableSpec> Specs(std::vector<std::string> names) {
  std::vector<TableSpec> specs(names.size());
  for (size_t t = 0; t < names.size(); ++t) {
    specs[t].name = names[t];
    specs[t].dim = 4;
    specs[t].optimizer.set_type(RowOptimizerConfig::SGD);
    specs[t].optimizer.set_learning_rate(0.1f);
    specs[t].seed = 1;
    specs[t].name_hash = StableHash(names[t]);
  }
  return specs;
}

// Keys first..first+n-1 of table `table`, pulled for training at `step`.
void Pull(EmbeddingStore* store, int table, uint64_t first, int n, int64_t step) {
  std::vector<TableRequest> r(1);
  r[0].table = table;
  r[0].keys.resize(n);
  std::iota(r[0].keys.begin(), r[0].keys.end(), first);
  r[0].values.resize(static_cast<size_t>(n) * 4);
  ASSERT_TRUE(store->Wait(store->Pull(&r, step, true)).ok());
}

std::map<std::string, double> Figures(StoreStatsWindow* window, EmbeddingStore* store) {
  auto figures = window->Figures(store);
  EXPECT_TRUE(figures.ok()) << figures.status();
  return figures.ok() ? std::map<std::string, double>(figures->begin(), figures->end())
                      : std::map<std::string, double>();
}

TEST(StoreStatsWindowTest, TableSizesAndTheWindowsHitRateOfAMemoryStore) {
  auto store = LocalStore::Open(Specs({"user", "item"})).value();
  StoreStatsWindow window({"user", "item"});
  Pull(store.get(), 0, 0, 10, 0);
  Pull(store.get(), 1, 100, 5, 0);
  std::map<std::string, double> f = Figures(&window, store.get());
  EXPECT_EQ(f["ps_rows"], 15);
  EXPECT_EQ(f["ps_rows.user"], 10);
  EXPECT_EQ(f["ps_rows.item"], 5);
  EXPECT_EQ(f["ps_resident_rows"], 15);
  // Rows created by the pulls were not looked up anywhere: no hit rate for this window.
  EXPECT_EQ(f.count("ps_hit_rate"), 0u);
  EXPECT_EQ(f.count("worker_cache_hit_rate"), 0u);
  Pull(store.get(), 0, 0, 10, 1);
  f = Figures(&window, store.get());
  EXPECT_EQ(f["ps_hit_rate"], 1.0);
  EXPECT_EQ(f["ps_rows"], 15);
  // A window without pulls has no rate.
  EXPECT_EQ(Figures(&window, store.get()).count("ps_hit_rate"), 0u);
}

TEST(StoreStatsWindowTest, RowsReadFromRocksDbLowerTheHitRateOfTheirWindowOnly) {
  TempDir dir;
  RowStoreOptions options;
  options.db_path = dir / "db";
  options.cache_bytes = 16 << 10;  // about a hundred rows of 4 floats with their state
  auto store = LocalStore::Open(Specs({"t"}), options).value();
  StoreStatsWindow window({"t"});
  Pull(store.get(), 0, 0, 2000, 0);
  std::map<std::string, double> f = Figures(&window, store.get());
  EXPECT_EQ(f["ps_rows"], 2000);
  EXPECT_LT(f["ps_resident_rows"], 1000);
  const TableStats before = store->rows()->stats(0);
  // Every key again: the resident ones are hits, the evicted ones come back from RocksDB.
  Pull(store.get(), 0, 0, 2000, 1);
  const TableStats after = store->rows()->stats(0);
  f = Figures(&window, store.get());
  const double hits = static_cast<double>(after.cache_hits - before.cache_hits);
  const double misses = static_cast<double>(after.cache_misses - before.cache_misses);
  EXPECT_EQ(hits + misses, 2000);
  EXPECT_GT(misses, 1000);
  EXPECT_DOUBLE_EQ(f["ps_hit_rate"], hits / 2000);
  // The next window only sees its own keys: a new row (looked up in RocksDB first: a miss),
  // then the same row, now resident.
  Pull(store.get(), 0, 5000, 1, 2);
  Pull(store.get(), 0, 5000, 1, 3);
  EXPECT_EQ(Figures(&window, store.get())["ps_hit_rate"], 0.5);
}

TEST(StoreStatsWindowTest, AServerThatRestartedStartsANewWindow) {
  auto first = LocalStore::Open(Specs({"t"})).value();
  StoreStatsWindow window({"t"});
  Pull(first.get(), 0, 0, 50, 0);
  for (int step = 1; step <= 3; ++step) Pull(first.get(), 0, 0, 50, step);
  EXPECT_EQ(Figures(&window, first.get())["ps_hit_rate"], 1.0);
  // The same table in a fresh store: fewer lookups than counted before.
  auto restarted = LocalStore::Open(Specs({"t"})).value();
  Pull(restarted.get(), 0, 0, 10, 4);
  Pull(restarted.get(), 0, 0, 10, 5);
  const std::map<std::string, double> f = Figures(&window, restarted.get());
  EXPECT_EQ(f.at("ps_hit_rate"), 1.0);
  EXPECT_EQ(f.at("ps_rows"), 10);
}

TEST(StoreStatsWindowTest, AWorkerRowCacheAddsItsOwnHitRate) {
  auto inner = LocalStore::Open(Specs({"t"})).value();
  CachingStore cache(inner.get(), Specs({"t"}), /*staleness=*/4, /*capacity_rows=*/100);
  StoreStatsWindow window({"t"});
  Pull(&cache, 0, 0, 8, 0);  // 8 misses
  Pull(&cache, 0, 4, 8, 1);  // 4 hits, 4 misses
  const std::map<std::string, double> f = Figures(&window, &cache);
  EXPECT_DOUBLE_EQ(f.at("worker_cache_hit_rate"), 4.0 / 16.0);
  EXPECT_EQ(f.at("ps_rows"), 12);
}

TEST(StoreStatsWindowTest, AStoreWithAnotherTableCountIsRefused) {
  auto store = LocalStore::Open(Specs({"t"})).value();
  StoreStatsWindow window({"user", "item"});
  const auto figures = window.Figures(store.get());
  ASSERT_FALSE(figures.ok());
  EXPECT_EQ(figures.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(figures.status().message().find("1 tables; the job has 2"), std::string::npos)
      << figures.status();
}

}  // namespace
}  // namespace moerec
