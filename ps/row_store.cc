// RowStore: opening, the pull and push paths, the cache (allocation, CLOCK eviction,
// write-back) and row reads. Maintenance (flush, sweep, snapshots) is in
// row_store_maintenance.cc, checkpoints in row_store_checkpoint.cc.
#include "ps/row_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>

#include "proto/ps_config.h"
#include "ps/internal/rocks.h"
#include "ps/internal/row_store_internal.h"

namespace moerec {
namespace {

// CLOCK weights: a hit adds one; a row read back from RocksDB starts at log2 of its stored
// frequency (0 for rows seen once), so rows that were popular come back protected and one-off
// rows leave at the hand's next pass (an LFU flavour, scan-resistant).
constexpr uint8_t kMaxClock = 7;
constexpr size_t kMultiGetChunk = 1024;

uint8_t LoadedClock(uint32_t frequency) {
  const int w = std::bit_width(frequency) - 1;
  return static_cast<uint8_t>(std::clamp(w, 0, static_cast<int>(kMaxClock)));
}
constexpr int64_t kIndexBytesPerRow = 32;  // KeyIndex entries at load factor <= 1/2
constexpr int64_t kMinResidentRows = 64;
// Lookahead of the batched index probes, and lag between a probe and the use of its row.
constexpr int64_t kProbeAhead = 16;
constexpr int64_t kUseLag = 8;

// Calls fn(i, slot) for every key in order (slot = KeyIndex::kAbsent when not resident),
// prefetching index buckets kProbeAhead keys ahead and records kUseLag keys ahead of their use.
template <typename Fn>
void ForEachLookup(const KeyIndex& index, const Slab& slab, const uint64_t* keys, int64_t n,
                   std::vector<uint32_t>* slots, Fn&& fn) {
  slots->resize(static_cast<size_t>(n));
  uint32_t* s = slots->data();
  for (int64_t i = 0; i < std::min(n, kProbeAhead); ++i) index.Prefetch(keys[i]);
  for (int64_t i = 0; i < n + kUseLag; ++i) {
    if (i < n) {
      if (i + kProbeAhead < n) index.Prefetch(keys[i + kProbeAhead]);
      const uint32_t slot = index.Find(keys[i]);
      s[i] = slot;
      if (slot != KeyIndex::kAbsent) {
        const char* r = slab.at(slot);
        __builtin_prefetch(r, 1);
        __builtin_prefetch(r + 64, 1);
      }
    }
    if (i >= kUseLag) fn(i - kUseLag, s[i - kUseLag]);
  }
}

}  // namespace

RowStoreOptions RowStoreOptionsFromConfig(const ServerConfig& config, int shard, int num_shards) {
  RowStoreOptions o;
  o.cache_bytes = config.cache_mb() << 20;
  if (!config.db_dir().empty()) o.db_path = config.db_dir() + "/shard-" + std::to_string(shard);
  o.rocksdb = config.rocksdb();
  o.shard = shard;
  o.num_shards = num_shards;
  return o;
}

RowStore::RowStore(std::vector<Table> tables, RowStoreOptions options)
    : options_(std::move(options)),
      tables_(std::move(tables)),
      miss_buffers_(std::make_unique<MissBuffers>()) {
  for (size_t i = 0; i < tables_.size(); ++i) {
    table_by_hash_[tables_[i].spec.name_hash] = static_cast<int>(i);
  }
}

RowStore::~RowStore() = default;

StatusOr<std::unique_ptr<RowStore>> RowStore::Open(std::vector<TableSpec> specs,
                                                   RowStoreOptions options) {
  if (options.num_shards < 1 || options.shard < 0 || options.shard >= options.num_shards) {
    return InvalidArgument("row store: shard " + std::to_string(options.shard) + " of " +
                           std::to_string(options.num_shards) + " is not a valid shard");
  }
  if (options.cache_bytes < 0) return InvalidArgument("row store: cache_bytes must be >= 0");
  std::vector<Table> tables(specs.size());
  std::set<uint64_t> hashes;
  int64_t widest = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    Table& t = tables[i];
    const TableSpec& s = specs[i];
    if (s.dim < 1) return InvalidArgument("table " + s.name + ": dim must be >= 1");
    if (s.name_hash != StableHash(s.name)) {
      return InvalidArgument("table " + s.name + ": name_hash is not StableHash(name)");
    }
    if (!hashes.insert(s.name_hash).second) {
      return InvalidArgument("table " + s.name + ": two tables share this name (hash)");
    }
    RETURN_IF_ERROR(ValidateTableStorage(s.storage, "storage", "table " + s.name));
    t.spec = s;
    t.optimizer = RowOptimizer::Create(t.spec.optimizer);
    t.stride = t.spec.dim + t.optimizer->StateFloats(t.spec.dim);
    const size_t record_bytes = (sizeof(RowMeta) + 4 * static_cast<size_t>(t.stride) + 7) / 8 * 8;
    t.slab = Slab(record_bytes);
    t.row_cost = static_cast<int64_t>(record_bytes) + kIndexBytesPerRow;
    widest = std::max(widest, t.row_cost);
    const TableStorageConfig& st = t.spec.storage;
    t.meta_rules = st.evict_unseen_steps() > 0 || st.evict_min_frequency() > 0;
    if (st.admission_min_count() > 1) {
      t.filter = std::make_unique<AdmissionFilter>(st.admission_filter_counters(),
                                                   HashCombine(t.spec.seed, t.spec.name_hash));
    }
  }
  std::unique_ptr<RowStore> store(new RowStore(std::move(tables), std::move(options)));
  if (!store->options_.db_path.empty()) {
    ASSIGN_OR_RETURN(rocksdb::Options db_options, MakeRocksOptions(store->options_.rocksdb));
    store->db_options_ = std::make_unique<rocksdb::Options>(std::move(db_options));
    store->read_options_ =
        std::make_unique<rocksdb::ReadOptions>(MakeReadOptions(store->options_.rocksdb));
    store->write_options_ = std::make_unique<rocksdb::WriteOptions>(MakeWriteOptions());
    ASSIGN_OR_RETURN(store->db_, OpenFreshDb(store->options_.db_path, *store->db_options_));
    std::error_code ec;
    std::filesystem::remove_all(store->options_.db_path + ".snapshot", ec);  // a stale snapshot
    store->pending_ = std::make_unique<WriteBuffer>();
    store->batch_ = std::make_unique<rocksdb::WriteBatch>();
    store->budget_bytes_ = std::max(store->options_.cache_bytes, kMinResidentRows * widest);
  }
  return store;
}

RowStore::Table RowStore::CopyTable(const Table& t, bool with_rows) {
  Table c;
  c.spec = t.spec;
  c.optimizer = RowOptimizer::Create(t.spec.optimizer);
  c.stride = t.stride;
  c.row_cost = t.row_cost;
  c.meta_rules = t.meta_rules;
  c.slab = with_rows ? Slab(t.slab) : Slab(t.slab.record_bytes());
  if (with_rows) {
    c.index = t.index;
    c.free_slots = t.free_slots;
    c.changed = t.changed;
  }
  if (t.filter != nullptr) c.filter = std::make_unique<AdmissionFilter>(*t.filter);
  c.rows = t.rows;
  c.stats = t.stats;
  return c;
}

std::unique_ptr<RowStore> RowStore::Clone() const {
  CHECK(memory_only()) << "Clone copies memory-only stores; use SaveSnapshot";
  std::vector<Table> copy;
  for (const Table& t : tables_) copy.push_back(CopyTable(t, true));
  std::unique_ptr<RowStore> c(new RowStore(std::move(copy), options_));
  c->resident_bytes_ = resident_bytes_;
  c->resident_rows_ = resident_rows_;
  return c;
}

Status RowStore::CheckTable(int table, const char* op) const {
  if (table < 0 || table >= num_tables()) {
    return InvalidArgument(std::string(op) + " names table " + std::to_string(table) +
                           "; the store has " + std::to_string(num_tables()));
  }
  return Status::OK();
}

void RowStore::Touch(Table& t, RowMeta* m, int64_t step, bool pulled) const {
  m->last_seen = step;
  if (pulled) {
    if (m->frequency != UINT32_MAX) ++m->frequency;
    m->flags |= (t.meta_rules ? kRowDirty : kRowMetaDirty) | kRowChanged;
  } else {
    m->flags |= kRowDirty | kRowChanged;
  }
  if (m->clock < kMaxClock) ++m->clock;
}

StatusOr<RowMeta*> RowStore::Allocate(Table& t, uint64_t key) {
  if (budget_bytes_ > 0) {
    while (resident_bytes_ + t.row_cost > budget_bytes_ && resident_rows_ > 0) EvictOne();
  }
  uint32_t slot;
  if (!t.free_slots.empty()) {
    slot = t.free_slots.back();
    t.free_slots.pop_back();
  } else {
    if (t.slab.size() >= size_t{KeyIndex::kAbsent}) {
      return FailedPrecondition("table " + t.spec.name +
                                " is full: " + std::to_string(t.slab.size()) +
                                " rows resident on this server, the most one server holds; set "
                                "ps.cache_mb (rows beyond it live in RocksDB) or add servers");
    }
    slot = static_cast<uint32_t>(t.slab.Append());
  }
  RowMeta* m = Meta(t, slot);
  *m = RowMeta{};
  m->key = key;
  m->flags = kRowOccupied;
  t.index.Insert(key, slot);
  resident_bytes_ += t.row_cost;
  ++resident_rows_;
  return m;
}

StatusOr<RowMeta*> RowStore::Create(Table& t, uint64_t key) {
  ASSIGN_OR_RETURN(RowMeta * m, Allocate(t, key));
  float* record = Record(m);
  InitRow(t.spec, key, record);
  t.optimizer->InitState(t.spec.dim, record + t.spec.dim);
  m->flags |= kRowDirty | kRowChanged;
  ++t.rows;
  ++t.stats.created;
  return m;
}

bool RowStore::Admit(Table& t, uint64_t key, uint32_t* sightings) {
  if (t.filter == nullptr) {
    *sightings = 0;
    return true;
  }
  const uint32_t seen = t.filter->Add(key);
  if (seen < static_cast<uint32_t>(t.spec.storage.admission_min_count())) {
    ++t.stats.rejected;
    return false;
  }
  *sightings = seen - 1;  // the pull that admits it counts one more
  ++t.stats.admitted;
  return true;
}

void RowStore::EvictOne() {
  CHECK_GT(resident_rows_, 0);
  for (;;) {
    Table& u = tables_[hand_table_];
    if (hand_slot_ >= u.slab.size()) {
      hand_slot_ = 0;
      hand_table_ = (hand_table_ + 1) % num_tables();
      continue;
    }
    const uint32_t slot = static_cast<uint32_t>(hand_slot_++);
    RowMeta* m = Meta(u, slot);
    if (!(m->flags & kRowOccupied)) continue;
    if (m->clock > 0) {
      --m->clock;
      continue;
    }
    Evict(u, slot);
    return;
  }
}

void RowStore::NoteChanged(Table& t, uint64_t key, bool deleted) {
  const uint32_t mark = deleted ? 1 : 0;
  if (!t.changed.Insert(key, mark)) t.changed.Update(key, mark);
}

void RowStore::WriteBack(const Table& t, const RowMeta* m) {
  char* value = pending_->AppendPut(t.spec.name_hash, m->key, RowValueBytes(t.stride));
  EncodeRowValue(*m, Record(m), t.stride, value);
}

void RowStore::Evict(Table& t, uint32_t slot) {
  RowMeta* m = Meta(t, slot);
  if (m->flags & kRowDirty) {
    WriteBack(t, m);
    ++t.stats.written_back;
  }
  if (tracking_ && (m->flags & kRowChanged)) NoteChanged(t, m->key, false);
  ++t.stats.evicted;
  Drop(t, slot);
}

void RowStore::Drop(Table& t, uint32_t slot) {
  RowMeta* m = Meta(t, slot);
  t.index.Erase(m->key);
  m->flags = 0;
  t.free_slots.push_back(slot);
  resident_bytes_ -= t.row_cost;
  --resident_rows_;
}

Status RowStore::CommitPending() {
  if (pending_ == nullptr || pending_->empty()) return Status::OK();
  pending_->Drain(batch_.get());
  Status s =
      FromRocks(db_->Write(*write_options_, batch_.get()), "RocksDB write-back", options_.db_path);
  batch_->Clear();
  return s;
}

Status RowStore::LoadMisses(Table& t, const uint64_t* keys) {
  MissBuffers& b = *miss_buffers_;
  const size_t m = miss_.size();
  // Sorted keys spare MultiGet its own sort; answers are mapped back to miss order.
  b.order.resize(m);
  for (size_t j = 0; j < m; ++j) b.order[j] = {keys[miss_[j]], static_cast<uint32_t>(j)};
  std::sort(b.order.begin(), b.order.end());
  miss_keys_.resize(m * kRowKeyBytes);
  b.keys.resize(m);
  b.value_of.resize(m);
  for (size_t k = 0; k < m; ++k) {
    char* dst = miss_keys_.data() + k * kRowKeyBytes;
    EncodeRowKey(t.spec.name_hash, b.order[k].first, dst);
    b.keys[k] = rocksdb::Slice(dst, kRowKeyBytes);
    b.value_of[b.order[k].second] = static_cast<uint32_t>(k);
  }
  if (b.values.size() < m) b.values.resize(m);
  b.statuses.resize(m);
  // Chunks keep RocksDB's per-call work arrays small (no large allocations per call).
  for (size_t first = 0; first < m; first += kMultiGetChunk) {
    const size_t n = std::min(kMultiGetChunk, m - first);
    db_->MultiGet(*read_options_, db_->DefaultColumnFamily(), n, b.keys.data() + first,
                  b.values.data() + first, b.statuses.data() + first, /*sorted_input=*/true);
  }
  t.stats.cache_misses += static_cast<int64_t>(m);
  for (size_t k = 0; k < m; ++k) {
    const rocksdb::Status& s = b.statuses[k];
    if (!s.ok() && !s.IsNotFound()) {
      b.Release(m);
      return FromRocks(s, "RocksDB MultiGet of table " + t.spec.name);
    }
  }
  return Status::OK();
}

Status RowStore::StoredMiss(Table& t, size_t j, uint64_t key, std::string_view* value,
                            RowMeta* stored) {
  if (db_ == nullptr) return Status::OK();
  const MissBuffers& b = *miss_buffers_;
  const uint32_t k = b.value_of[j];
  if (!b.statuses[k].ok()) return Status::OK();  // NotFound: LoadMisses let nothing else through
  const std::string_view v(b.values[k].data(), b.values[k].size());
  if (!ParseRowHeader(v, t.stride, stored)) {
    return BadRowValue(v, t.stride, RowName(t.spec.name, key));
  }
  ++t.stats.loaded;
  *value = v;
  return Status::OK();
}

StatusOr<RowMeta*> RowStore::Reload(Table& t, uint64_t key, std::string_view value,
                                    const RowMeta& stored) {
  ASSIGN_OR_RETURN(RowMeta * m, Allocate(t, key));
  m->last_seen = stored.last_seen;
  m->updates = stored.updates;
  m->frequency = stored.frequency;
  DecodeRowRecord(value, t.stride, Record(m));
  return m;
}

Status RowStore::Pull(int table, const uint64_t* keys, int64_t n, int64_t step, bool training,
                      float* out) {
  RETURN_IF_ERROR(CheckTable(table, "pull"));
  Table& t = tables_[table];
  const int dim = t.spec.dim;
  const size_t row_bytes = static_cast<size_t>(dim) * sizeof(float);
  miss_.clear();
  ForEachLookup(t.index, t.slab, keys, n, &slots_, [&](int64_t i, uint32_t slot) {
    if (slot == KeyIndex::kAbsent) {
      miss_.push_back(i);
      return;
    }
    RowMeta* m = Meta(t, slot);
    std::memcpy(out + i * dim, Record(m), row_bytes);
    if (training) {
      Touch(t, m, step, /*pulled=*/true);
    } else if (m->clock < kMaxClock) {
      ++m->clock;
    }
  });
  if (training) t.stats.pulled_keys += n;
  t.stats.cache_hits += n - static_cast<int64_t>(miss_.size());
  if (miss_.empty()) return Status::OK();
  if (db_ != nullptr) RETURN_IF_ERROR(LoadMisses(t, keys));

  MissBuffers& b = *miss_buffers_;
  Status status;
  for (size_t j = 0; j < miss_.size() && status.ok(); ++j) {
    if (j + kProbeAhead < miss_.size()) t.index.Prefetch(keys[miss_[j + kProbeAhead]]);
    const int64_t i = miss_[j];
    const uint64_t key = keys[i];
    float* o = out + i * dim;
    std::string_view value;
    RowMeta stored;
    status = StoredMiss(t, j, key, &value, &stored);
    if (!status.ok()) break;
    if (!value.empty()) {
      if (!training) {
        std::memcpy(o, value.data() + kRowHeaderBytes, row_bytes);
        continue;
      }
      StatusOr<RowMeta*> reloaded = Reload(t, key, value, stored);
      if (!reloaded.ok()) {
        status = reloaded.status();
        break;
      }
      RowMeta* m = *reloaded;
      std::memcpy(o, Record(m), row_bytes);
      Touch(t, m, step, /*pulled=*/true);
      m->clock = LoadedClock(stored.frequency);
      continue;
    }
    if (!training) {
      // As a training pull would see it: zeros until admission lets the id in.
      if (t.filter == nullptr) {
        InitRow(t.spec, key, o);
      } else {
        std::memset(o, 0, row_bytes);
      }
      continue;
    }
    uint32_t sightings = 0;
    if (!Admit(t, key, &sightings)) {
      std::memset(o, 0, row_bytes);
      continue;
    }
    StatusOr<RowMeta*> created = Create(t, key);
    if (!created.ok()) {
      status = created.status();
      break;
    }
    RowMeta* m = *created;
    m->frequency = sightings;
    std::memcpy(o, Record(m), row_bytes);
    Touch(t, m, step, /*pulled=*/true);
  }
  if (db_ != nullptr) b.Release(miss_.size());
  Status written = CommitPending();
  return status.ok() ? written : status;
}

Status RowStore::Push(int table, const uint64_t* keys, int64_t n, int64_t step,
                      const float* grads) {
  RETURN_IF_ERROR(CheckTable(table, "push"));
  Table& t = tables_[table];
  const int dim = t.spec.dim;
  const RowOptimizer& opt = *t.optimizer;
  miss_.clear();
  ForEachLookup(t.index, t.slab, keys, n, &slots_, [&](int64_t i, uint32_t slot) {
    if (slot == KeyIndex::kAbsent) {
      miss_.push_back(i);
      return;
    }
    RowMeta* m = Meta(t, slot);
    float* w = Record(m);
    opt.Update(dim, grads + i * dim, ++m->updates, w, w + dim);
    Touch(t, m, step, /*pulled=*/false);
  });
  t.stats.pushed_keys += n;
  t.stats.cache_hits += n - static_cast<int64_t>(miss_.size());
  if (miss_.empty()) return Status::OK();
  if (db_ != nullptr) RETURN_IF_ERROR(LoadMisses(t, keys));

  MissBuffers& b = *miss_buffers_;
  Status status;
  for (size_t j = 0; j < miss_.size(); ++j) {
    if (j + kProbeAhead < miss_.size()) t.index.Prefetch(keys[miss_[j + kProbeAhead]]);
    const int64_t i = miss_[j];
    const uint64_t key = keys[i];
    RowMeta* m = nullptr;
    std::string_view value;
    RowMeta stored;
    status = StoredMiss(t, j, key, &value, &stored);
    if (!status.ok()) break;
    const bool stored_row = !value.empty();
    StatusOr<RowMeta*> got = nullptr;
    if (stored_row) {
      got = Reload(t, key, value, stored);
    } else if (t.filter == nullptr) {
      got = Create(t, key);
    } else {
      ++t.stats.dropped_gradients;
      continue;
    }
    if (!got.ok()) {
      status = got.status();
      break;
    }
    m = *got;
    float* w = Record(m);
    opt.Update(dim, grads + i * dim, ++m->updates, w, w + dim);
    Touch(t, m, step, /*pulled=*/false);
    if (stored_row) m->clock = LoadedClock(m->frequency);
  }
  if (db_ != nullptr) b.Release(miss_.size());
  Status written = CommitPending();
  return status.ok() ? written : status;
}

StatusOr<bool> RowStore::ReadRow(int table, uint64_t key,
                                 const std::function<void(const RowView&)>& fn) const {
  RETURN_IF_ERROR(CheckTable(table, "read"));
  const Table& t = tables_[table];
  const uint32_t slot = t.index.Find(key);
  if (slot != KeyIndex::kAbsent) {
    const RowMeta* m = Meta(t, slot);
    fn(RowView{Record(m), m->last_seen, m->updates, m->frequency});
    return true;
  }
  if (db_ == nullptr) return false;
  char k[kRowKeyBytes];
  EncodeRowKey(t.spec.name_hash, key, k);
  rocksdb::PinnableSlice v;
  const rocksdb::Status s =
      db_->Get(*read_options_, db_->DefaultColumnFamily(), rocksdb::Slice(k, kRowKeyBytes), &v);
  if (s.IsNotFound()) return false;
  RETURN_IF_ERROR(FromRocks(s, "RocksDB read of table " + t.spec.name));
  const std::string_view value(v.data(), v.size());
  RowMeta stored;
  if (!ParseRowHeader(value, t.stride, &stored)) {
    return BadRowValue(value, t.stride, RowName(t.spec.name, key));
  }
  std::vector<float> record(static_cast<size_t>(t.stride));
  DecodeRowRecord(value, t.stride, record.data());
  fn(RowView{record.data(), stored.last_seen, stored.updates, stored.frequency});
  return true;
}

Status RowStore::ScanRows(int table,
                          const std::function<void(uint64_t, const RowView&)>& fn) const {
  RETURN_IF_ERROR(CheckTable(table, "scan"));
  const Table& t = tables_[table];
  if (db_ != nullptr) {
    std::vector<float> record(static_cast<size_t>(t.stride));
    RETURN_IF_ERROR(
        ScanTableRange(db_.get(), t.spec.name_hash, [&](uint64_t key, std::string_view value) {
          if (t.index.Find(key) != KeyIndex::kAbsent) return Status::OK();  // resident is newer
          RowMeta stored;
          if (!ParseRowHeader(value, t.stride, &stored)) {
            return BadRowValue(value, t.stride, RowName(t.spec.name, key));
          }
          DecodeRowRecord(value, t.stride, record.data());
          fn(key, RowView{record.data(), stored.last_seen, stored.updates, stored.frequency});
          return Status::OK();
        }));
  }
  for (size_t slot = 0; slot < t.slab.size(); ++slot) {
    const RowMeta* m = Meta(t, static_cast<uint32_t>(slot));
    if (!(m->flags & kRowOccupied)) continue;
    fn(m->key, RowView{Record(m), m->last_seen, m->updates, m->frequency});
  }
  return Status::OK();
}

TableStats RowStore::stats(int table) const {
  const Table& t = tables_[table];
  TableStats s = t.stats;
  s.rows = t.rows;
  s.resident_rows = static_cast<int64_t>(t.index.size());
  return s;
}

CacheStats RowStore::cache_stats() const {
  CacheStats c;
  c.budget_bytes = budget_bytes_;
  c.resident_bytes = resident_bytes_;
  c.resident_rows = resident_rows_;
  for (const Table& t : tables_) c.slab_bytes += static_cast<int64_t>(t.slab.allocated_bytes());
  return c;
}

}  // namespace moerec
