// StoreStatsWindow: the embedding store's counters as figures of the training log's "train"
// lines (docs/monitoring.md). Each call to Figures asks the store for its cumulative counters
// (a parameter-server client asks every server) and turns them into
//   ps_rows                 rows of all tables (in memory or in RocksDB)
//   ps_rows.<table>         per table, where the job has several
//   ps_resident_rows        rows in the servers' memory
//   ps_hit_rate             share of the window's pulled and pushed keys found in the servers'
//                           memory (the rest were read from RocksDB); left out when the window
//                           looked up no key
//   worker_cache_hit_rate   share of the window's training-pull keys the worker row cache
//                           served, where there is one (a CachingStore in front of the store,
//                           or a GPU worker's device row cache, passed to Figures)
// where the window is the time since the previous call. A server that restarted (its counters
// went back) starts a new window.
// Thread-safety: as the store's (one calling thread).
#ifndef MOEREC_WORKER_STORE_STATS_H_
#define MOEREC_WORKER_STORE_STATS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "embedding/embedding_store.h"
#include "embedding/row_cache.h"

namespace moerec {

class StoreStatsWindow {
 public:
  explicit StoreStatsWindow(std::vector<std::string> table_names)
      : table_names_(std::move(table_names)) {}

  // The figures, in the order above; the store's error, or InvalidArgument when the store's
  // table count is not the job's.
  // `device_cache`: a GPU worker's row cache counters (embedding/gpu_row_cache.h), or null.
  StatusOr<std::vector<std::pair<std::string, double>>> Figures(
      EmbeddingStore* store, const RowCacheStats* device_cache = nullptr);

 private:
  const std::vector<std::string> table_names_;
  int64_t hits_ = 0, misses_ = 0;                // servers' memory, at the previous call
  int64_t worker_hits_ = 0, worker_misses_ = 0;  // the worker row cache's
};

}  // namespace moerec

#endif  // MOEREC_WORKER_STORE_STATS_H_
