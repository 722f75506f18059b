// CachingStore: a worker-side row cache in front of another EmbeddingStore (DESIGN.md §2,
// step 2: "rows already in the worker's cache are not pulled"). A row pulled for training at
// step s is served from the cache to training pulls of steps up to s + staleness without
// asking the servers; pushes always go through. With staleness 0 nothing is ever served from
// the cache (BSP needs every pull to see every applied push). Evaluation pulls bypass the cache.
//
// The cache holds at most `capacity_rows` rows per table; when full, the rows pulled longest
// ago make room (they are the stalest). Snapshot, checkpoint and restore pass through and empty
// the cache (rows may have changed underneath).
// Thread-safety: as EmbeddingStore. The inner store must outlive this one.
#ifndef MOEREC_EMBEDDING_ROW_CACHE_H_
#define MOEREC_EMBEDDING_ROW_CACHE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/key_index.h"
#include "embedding/embedding_store.h"
#include "embedding/table_spec.h"

namespace moerec {

struct RowCacheStats {
  int64_t hits = 0;    // keys served from the cache
  int64_t misses = 0;  // keys pulled from the inner store
};

class CachingStore : public EmbeddingStore {
 public:
  CachingStore(EmbeddingStore* inner, std::vector<TableSpec> tables, int64_t staleness,
               int64_t capacity_rows);

  Ticket Pull(std::vector<TableRequest>* requests, int64_t step, bool training) override;
  Ticket Push(const std::vector<TableRequest>* requests, int64_t step) override;
  Status Wait(Ticket ticket) override;
  Status SaveSnapshot() override;
  Status RestoreSnapshot() override;
  Status Checkpoint(const std::string& dir, int64_t step, bool incremental) override;
  Status Restore(const std::string& dir, int64_t step) override;
  Status ImportTables(const std::string& dir, const TableRenames& renames) override;
  // The inner store's, with this cache's hits and misses.
  StatusOr<StoreStats> Stats() override;

  int64_t wire_bytes() const override { return inner_->wire_bytes(); }
  const RowCacheStats& stats() const { return stats_; }

 private:
  struct TableCache {
    int dim = 0;
    KeyIndex index;                  // key -> slot
    std::vector<float> rows;         // (capacity, dim)
    std::vector<int64_t> pulled_at;  // (capacity) step of the pull that filled the slot
    std::vector<uint64_t> keys;      // (capacity) key of the slot
    int64_t used = 0;
  };
  // A pull that went partly to the inner store.
  struct PendingPull {
    bool passthrough = false;  // forwarded unchanged (evaluation, or no cache)
    Ticket inner = 0;
    std::vector<TableRequest>* target = nullptr;
    std::vector<TableRequest> misses;              // what the inner store fetches
    std::vector<std::vector<uint32_t>> positions;  // per miss request: index in its target
    std::vector<int> target_of_miss;               // per miss request: index into *target
    int64_t step = 0;
  };

  void Insert(TableCache* cache, uint64_t key, const float* row, int64_t step);
  void Clear();

  EmbeddingStore* const inner_;
  const int64_t staleness_;
  const int64_t capacity_;
  std::vector<TableCache> tables_;
  std::map<Ticket, PendingPull> pulls_;
  std::map<Ticket, Ticket> others_;  // our ticket -> inner ticket (pushes, passthrough pulls)
  Ticket next_ticket_ = 1;
  RowCacheStats stats_;
};

}  // namespace moerec

#endif  // MOEREC_EMBEDDING_ROW_CACHE_H_
