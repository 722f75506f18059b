// RowStore maintenance: flushing the cache, the eviction sweep, compaction, snapshots and
// resetting every row.
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <system_error>

#include "ps/internal/rocks.h"
#include "ps/internal/row_store_internal.h"
#include "ps/row_store.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;

// Pending write-backs are committed once they reach this size during long sweeps.
constexpr size_t kBatchBytes = 16 << 20;

}  // namespace

Status ScanTableRange(rocksdb::DB* db, uint64_t table_hash,
                      const std::function<Status(uint64_t, std::string_view)>& fn) {
  const std::string begin = TableKeyBegin(table_hash);
  const std::string end = TableKeyEnd(table_hash);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro));
  for (it->Seek(begin); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() != kRowKeyBytes) {
      return Corruption("RocksDB holds a key of " + std::to_string(k.size()) + " bytes in the " +
                        "range of a table; expected " + std::to_string(kRowKeyBytes));
    }
    uint64_t hash = 0, key = 0;
    DecodeRowKey(k.data(), &hash, &key);
    const rocksdb::Slice v = it->value();
    RETURN_IF_ERROR(fn(key, std::string_view(v.data(), v.size())));
  }
  return FromRocks(it->status(), "RocksDB scan");
}

Status RowStore::Flush(bool drop_cache) {
  if (db_ == nullptr) return Status::OK();
  for (Table& t : tables_) {
    for (size_t slot = 0; slot < t.slab.size(); ++slot) {
      RowMeta* m = Meta(t, static_cast<uint32_t>(slot));
      if (!(m->flags & kRowOccupied)) continue;
      if (m->flags & (kRowDirty | kRowMetaDirty)) {
        WriteBack(t, m);
        ++t.stats.written_back;
        m->flags &= ~(kRowDirty | kRowMetaDirty);
        if (pending_->bytes() > kBatchBytes) RETURN_IF_ERROR(CommitPending());
      }
      if (drop_cache && tracking_ && (m->flags & kRowChanged)) NoteChanged(t, m->key, false);
    }
    if (drop_cache) {
      t.stats.evicted += static_cast<int64_t>(t.index.size());
      t.index.Clear();
      t.slab.Clear();
      t.free_slots.clear();
    }
  }
  if (drop_cache) {
    resident_bytes_ = 0;
    resident_rows_ = 0;
    hand_table_ = 0;
    hand_slot_ = 0;
  }
  return CommitPending();
}

Status RowStore::EvictStale(int64_t step) {
  for (Table& t : tables_) {
    if (!t.meta_rules) continue;
    const int64_t max_age = t.spec.storage.evict_unseen_steps();
    const int64_t min_frequency = t.spec.storage.evict_min_frequency();
    // 0 keep, else the counter to raise.
    auto verdict = [&](int64_t last_seen, uint32_t frequency) -> int64_t* {
      if (max_age > 0 && step - last_seen > max_age) return &t.stats.expired;
      if (min_frequency > 0 && frequency < min_frequency) return &t.stats.infrequent;
      return nullptr;
    };
    auto delete_stored = [&](uint64_t key) { pending_->Delete(t.spec.name_hash, key); };
    for (size_t slot = 0; slot < t.slab.size(); ++slot) {
      RowMeta* m = Meta(t, static_cast<uint32_t>(slot));
      if (!(m->flags & kRowOccupied)) continue;
      int64_t* counter = verdict(m->last_seen, m->frequency);
      if (counter == nullptr) continue;
      ++*counter;
      --t.rows;
      if (db_ != nullptr) delete_stored(m->key);
      if (tracking_) NoteChanged(t, m->key, true);
      Drop(t, static_cast<uint32_t>(slot));
    }
    if (db_ == nullptr) continue;
    RETURN_IF_ERROR(CommitPending());
    RETURN_IF_ERROR(
        ScanTableRange(db_.get(), t.spec.name_hash, [&](uint64_t key, std::string_view value) {
          if (t.index.Find(key) != KeyIndex::kAbsent) return Status::OK();  // judged above
          RowMeta stored;
          if (!ParseRowHeader(value, t.stride, &stored)) {
            return BadRowValue(value, t.stride, RowName(t.spec.name, key));
          }
          int64_t* counter = verdict(stored.last_seen, stored.frequency);
          if (counter == nullptr) return Status::OK();
          ++*counter;
          --t.rows;
          delete_stored(key);
          if (tracking_) NoteChanged(t, key, true);
          if (pending_->bytes() > kBatchBytes) return CommitPending();
          return Status::OK();
        }));
    RETURN_IF_ERROR(CommitPending());
  }
  return Status::OK();
}

Status RowStore::CompactStorage() {
  if (db_ == nullptr) return Status::OK();
  rocksdb::CompactRangeOptions o;
  o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(db_->CompactRange(o, nullptr, nullptr), "RocksDB compaction", options_.db_path);
}

Status RowStore::SaveSnapshot() {
  std::vector<Table> copy;
  if (db_ != nullptr) {
    RETURN_IF_ERROR(Flush());
    const std::string dir = options_.db_path + ".snapshot";
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) return IoError("remove " + dir + ": " + ec.message());
    RETURN_IF_ERROR(CreateRocksCheckpoint(db_.get(), dir));
  }
  for (const Table& t : tables_) copy.push_back(CopyTable(t, db_ == nullptr));
  snapshot_ = std::move(copy);
  has_snapshot_ = true;
  return Status::OK();
}

Status RowStore::RestoreSnapshot() {
  if (!has_snapshot_) return FailedPrecondition("no snapshot of the tables was saved");
  std::vector<Table> copy;
  for (const Table& t : snapshot_) copy.push_back(CopyTable(t, db_ == nullptr));
  if (db_ != nullptr) {
    pending_->Clear();
    db_.reset();
    std::error_code ec;
    fs::remove_all(options_.db_path, ec);
    if (ec) return IoError("remove " + options_.db_path + ": " + ec.message());
    RETURN_IF_ERROR(LinkDbFiles(options_.db_path + ".snapshot", options_.db_path));
    ASSIGN_OR_RETURN(db_, OpenExistingDb(options_.db_path, *db_options_));
  }
  tables_ = std::move(copy);
  resident_bytes_ = 0;
  resident_rows_ = 0;
  for (const Table& t : tables_) {
    resident_rows_ += static_cast<int64_t>(t.index.size());
    resident_bytes_ += static_cast<int64_t>(t.index.size()) * t.row_cost;
  }
  hand_table_ = 0;
  hand_slot_ = 0;
  tracking_ = false;
  return Status::OK();
}

Status RowStore::Reset() {
  for (Table& t : tables_) {
    t.index.Clear();
    t.slab.Clear();
    t.free_slots.clear();
    t.changed.Clear();
    t.rows = 0;
    if (t.filter != nullptr) t.filter->Clear();
  }
  resident_bytes_ = 0;
  resident_rows_ = 0;
  hand_table_ = 0;
  hand_slot_ = 0;
  tracking_ = false;
  if (db_ != nullptr) {
    pending_->Clear();
    db_.reset();
    ASSIGN_OR_RETURN(db_, OpenFreshDb(options_.db_path, *db_options_));
  }
  return Status::OK();
}

void RowStore::EndTrackingPeriod(const std::string& dir, int64_t step) {
  for (Table& t : tables_) {
    for (size_t slot = 0; slot < t.slab.size(); ++slot) {
      Meta(t, static_cast<uint32_t>(slot))->flags &= ~kRowChanged;
    }
    t.changed.Clear();
  }
  tracking_ = true;
  last_checkpoint_dir_ = dir;
  last_checkpoint_step_ = step;
}

}  // namespace moerec
