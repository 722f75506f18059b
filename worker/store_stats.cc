#include "worker/store_stats.h"

#include <cmath>
#include <limits>

namespace moerec {

namespace {

// hits / (hits + misses) over the window since (*last_hits, *last_misses), which become the
// current counters; NaN when the window saw no key. Counters that went back (a restarted server)
// count from zero.
double WindowRate(int64_t hits, int64_t misses, int64_t* last_hits, int64_t* last_misses) {
  int64_t dh = hits - *last_hits, dm = misses - *last_misses;
  if (dh < 0 || dm < 0) dh = hits, dm = misses;
  *last_hits = hits;
  *last_misses = misses;
  if (dh + dm == 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(dh) / static_cast<double>(dh + dm);
}

}  // namespace

StatusOr<std::vector<std::pair<std::string, double>>> StoreStatsWindow::Figures(
    EmbeddingStore* store, const RowCacheStats* device_cache) {
  ASSIGN_OR_RETURN(StoreStats stats, store->Stats());
  if (device_cache != nullptr) {
    stats.worker_cache_hits += device_cache->hits;
    stats.worker_cache_misses += device_cache->misses;
  }
  if (stats.tables.size() != table_names_.size()) {
    return InvalidArgument("the embedding store reports " + std::to_string(stats.tables.size()) +
                           " tables; the job has " + std::to_string(table_names_.size()));
  }
  std::vector<std::pair<std::string, double>> out;
  int64_t rows = 0, resident = 0, hits = 0, misses = 0;
  for (const StoreTableStats& t : stats.tables) {
    rows += t.rows;
    resident += t.resident_rows;
    hits += t.cache_hits;
    misses += t.cache_misses;
  }
  out.emplace_back("ps_rows", static_cast<double>(rows));
  if (table_names_.size() > 1) {
    for (size_t t = 0; t < table_names_.size(); ++t) {
      out.emplace_back("ps_rows." + table_names_[t], static_cast<double>(stats.tables[t].rows));
    }
  }
  out.emplace_back("ps_resident_rows", static_cast<double>(resident));
  const double rate = WindowRate(hits, misses, &hits_, &misses_);
  if (std::isfinite(rate)) out.emplace_back("ps_hit_rate", rate);
  const double worker_rate = WindowRate(stats.worker_cache_hits, stats.worker_cache_misses,
                                        &worker_hits_, &worker_misses_);
  if (std::isfinite(worker_rate)) out.emplace_back("worker_cache_hit_rate", worker_rate);
  return out;
}

}  // namespace moerec
