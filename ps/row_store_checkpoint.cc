// RowStore checkpoints: writing this shard's part (full or incremental) and restoring the rows
// this shard owns from a whole checkpoint chain written by any number of servers.
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "core/file_util.h"
#include "ps/checkpoint.h"
#include "ps/internal/rocks.h"
#include "ps/internal/row_file.h"
#include "ps/internal/row_store_internal.h"
#include "ps/row_store.h"

namespace moerec {
namespace {

namespace fs = std::filesystem;

constexpr char kRowFileName[] = "rows.dat";
constexpr size_t kBatchBytes = 16 << 20;
constexpr size_t kReadBatch = 4096;

std::string AbsoluteDir(const std::string& dir) {
  std::string p = fs::absolute(dir).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// Copies the RocksDB files of a checkpoint shard into `db_path`, each checked against the
// manifest as it is copied.
Status CopyCheckpointDb(const CheckpointShard& shard, const std::string& db_path) {
  std::error_code ec;
  fs::create_directories(db_path, ec);
  if (ec) return IoError("create " + db_path + ": " + ec.message());
  for (const CheckpointFile& f : shard.manifest.files()) {
    if (f.name().rfind("db/", 0) != 0) continue;
    const std::string from = shard.dir + "/" + f.name();
    const std::string to = db_path + "/" + f.name().substr(3);
    uint64_t size = 0;
    uint32_t crc = 0;
    RETURN_IF_ERROR(CopyFileDurably(from, to, &size, &crc));
    if (size != f.size() || crc != f.crc32()) {
      return Corruption(from + ": changed while it was restored (size " + std::to_string(size) +
                        ", manifest " + std::to_string(f.size()) + ")");
    }
  }
  return Status::OK();
}

}  // namespace

Status RowStore::Checkpoint(const std::string& dir, int64_t step, bool incremental) {
  const std::string abs_dir = AbsoluteDir(dir);
  const std::string shard_dir = abs_dir + "/" + ShardDirName(options_.shard);
  std::error_code ec;
  if (fs::exists(shard_dir + "/" + kManifestName, ec)) {
    return FailedPrecondition("checkpoint " + abs_dir + " already holds the part of shard " +
                              std::to_string(options_.shard));
  }
  fs::remove_all(shard_dir, ec);  // leftovers of an attempt that did not finish
  fs::create_directories(shard_dir, ec);
  if (ec) return IoError("create " + shard_dir + ": " + ec.message());

  // An increment needs its base whole and elsewhere: a base rewritten in place (the same folder)
  // or removed since gives a full checkpoint instead.
  const bool increment = incremental && tracking_ && last_checkpoint_dir_ != abs_dir &&
                         fs::exists(last_checkpoint_dir_ + "/" + kManifestName, ec);
  ShardManifest m;
  m.set_format_version(kCheckpointFormatVersion);
  m.set_shard(options_.shard);
  m.set_num_shards(options_.num_shards);
  m.set_step(step);
  m.set_kind(increment ? CHECKPOINT_INCREMENTAL : CHECKPOINT_FULL);
  for (const Table& t : tables_) {
    CheckpointTable* ct = m.add_tables();
    ct->set_name(t.spec.name);
    ct->set_name_hash(t.spec.name_hash);
    ct->set_dim(t.spec.dim);
    ct->set_optimizer(RowOptimizerConfig::Type_Name(t.spec.optimizer.type()));
    ct->set_state_floats(t.stride - t.spec.dim);
    ct->set_rows(t.rows);
  }
  if (increment) {
    m.set_base(fs::path(last_checkpoint_dir_).lexically_relative(abs_dir).string());
    m.set_base_step(last_checkpoint_step_);
    RETURN_IF_ERROR(WriteIncrement(shard_dir, &m));
  } else {
    RETURN_IF_ERROR(WriteFullCheckpoint(shard_dir, &m));
  }
  RETURN_IF_ERROR(WriteManifest(shard_dir + "/" + kManifestName, m));
  EndTrackingPeriod(abs_dir, step);
  return Status::OK();
}

Status RowStore::WriteFullCheckpoint(const std::string& shard_dir, ShardManifest* manifest) {
  if (db_ != nullptr) {
    RETURN_IF_ERROR(Flush());
    // RocksDB's checkpoint hard-links the table files it shares with the live database; the
    // checkpoint keeps copies of its own, so that damage to one file can cost at most the
    // checkpoints that hold that copy, never the live database or the other checkpoints.
    const std::string links_dir = shard_dir + "/db.links";
    const std::string db_dir = shard_dir + "/db";
    RETURN_IF_ERROR(CreateRocksCheckpoint(db_.get(), links_dir));
    manifest->set_rocksdb(true);
    std::vector<std::string> names;
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(links_dir, ec)) {
      if (e.is_regular_file()) names.push_back(e.path().filename().string());
    }
    if (ec) return IoError("list " + links_dir + ": " + ec.message());
    fs::create_directories(db_dir, ec);
    if (ec) return IoError("create " + db_dir + ": " + ec.message());
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      uint64_t size = 0;
      uint32_t crc = 0;
      RETURN_IF_ERROR(CopyFileDurably(links_dir + "/" + name, db_dir + "/" + name, &size, &crc));
      CheckpointFile* f = manifest->add_files();
      f->set_name("db/" + name);
      f->set_size(size);
      f->set_crc32(crc);
    }
    fs::remove_all(links_dir, ec);
    if (ec) return IoError("remove " + links_dir + ": " + ec.message());
    return Status::OK();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<RowFileWriter> out,
                   RowFileWriter::Create(shard_dir + "/" + kRowFileName));
  for (const Table& t : tables_) {
    value_scratch_.resize(RowValueBytes(t.stride));
    for (size_t slot = 0; slot < t.slab.size(); ++slot) {
      const RowMeta* m = Meta(t, static_cast<uint32_t>(slot));
      if (!(m->flags & kRowOccupied)) continue;
      EncodeRowValue(*m, Record(m), t.stride, value_scratch_.data());
      RETURN_IF_ERROR(out->Put(t.spec.name_hash, m->key, value_scratch_));
    }
  }
  RETURN_IF_ERROR(out->Close());
  CheckpointFile* f = manifest->add_files();
  f->set_name(kRowFileName);
  f->set_size(out->size());
  f->set_crc32(out->crc());
  return Status::OK();
}

Status RowStore::WriteIncrement(const std::string& shard_dir, ShardManifest* manifest) {
  ASSIGN_OR_RETURN(std::unique_ptr<RowFileWriter> out,
                   RowFileWriter::Create(shard_dir + "/" + kRowFileName));
  for (Table& t : tables_) {
    value_scratch_.resize(RowValueBytes(t.stride));
    for (size_t slot = 0; slot < t.slab.size(); ++slot) {
      const RowMeta* m = Meta(t, static_cast<uint32_t>(slot));
      if ((m->flags & (kRowOccupied | kRowChanged)) != (kRowOccupied | kRowChanged)) continue;
      EncodeRowValue(*m, Record(m), t.stride, value_scratch_.data());
      RETURN_IF_ERROR(out->Put(t.spec.name_hash, m->key, value_scratch_));
    }
    // Changed rows that left the cache: their stored values; deleted rows: tombstones.
    std::vector<uint64_t> stored;
    std::vector<uint64_t> deleted;
    t.changed.ForEach([&](uint64_t key, uint32_t mark) {
      if (t.index.Find(key) != KeyIndex::kAbsent) return;  // written above
      (mark == 1 || db_ == nullptr ? deleted : stored).push_back(key);
    });
    std::sort(stored.begin(), stored.end());
    std::sort(deleted.begin(), deleted.end());
    for (uint64_t key : deleted) RETURN_IF_ERROR(out->Delete(t.spec.name_hash, key));
    MissBuffers& b = *miss_buffers_;
    for (size_t begin = 0; begin < stored.size(); begin += kReadBatch) {
      const size_t n = std::min(kReadBatch, stored.size() - begin);
      miss_keys_.resize(n * kRowKeyBytes);
      b.keys.resize(n);
      if (b.values.size() < n) b.values.resize(n);
      b.statuses.resize(n);
      for (size_t k = 0; k < n; ++k) {
        EncodeRowKey(t.spec.name_hash, stored[begin + k], miss_keys_.data() + k * kRowKeyBytes);
        b.keys[k] = rocksdb::Slice(miss_keys_.data() + k * kRowKeyBytes, kRowKeyBytes);
      }
      db_->MultiGet(*read_options_, db_->DefaultColumnFamily(), n, b.keys.data(), b.values.data(),
                    b.statuses.data(), /*sorted_input=*/true);
      Status s;
      for (size_t k = 0; k < n && s.ok(); ++k) {
        if (b.statuses[k].IsNotFound()) {
          s = out->Delete(t.spec.name_hash, stored[begin + k]);
        } else if (!b.statuses[k].ok()) {
          s = FromRocks(b.statuses[k], "RocksDB read for the increment of table " + t.spec.name);
        } else {
          s = out->Put(t.spec.name_hash, stored[begin + k],
                       std::string_view(b.values[k].data(), b.values[k].size()));
        }
      }
      b.Release(n);
      RETURN_IF_ERROR(s);
    }
  }
  RETURN_IF_ERROR(out->Close());
  CheckpointFile* f = manifest->add_files();
  f->set_name(kRowFileName);
  f->set_size(out->size());
  f->set_crc32(out->crc());
  return Status::OK();
}

Status RowStore::Restore(const std::string& dir) {
  ASSIGN_OR_RETURN(const std::vector<CheckpointLevel> chain, LoadCheckpointChain(dir));
  // The checkpoint's tables must be this store's tables, with the same row layout.
  for (const CheckpointLevel& level : chain) {
    for (const CheckpointShard& shard : level.shards) {
      const std::string where = shard.dir + "/" + kManifestName;
      if (shard.manifest.tables_size() != num_tables()) {
        return InvalidArgument(where + ": " + std::to_string(shard.manifest.tables_size()) +
                               " tables in the checkpoint, " + std::to_string(num_tables()) +
                               " in this job");
      }
      for (const CheckpointTable& ct : shard.manifest.tables()) {
        auto it = table_by_hash_.find(ct.name_hash());
        if (it == table_by_hash_.end() || tables_[it->second].spec.name != ct.name()) {
          return InvalidArgument(where + ": table \"" + ct.name() + "\" is not in this job");
        }
        const Table& t = tables_[it->second];
        const std::string optimizer = RowOptimizerConfig::Type_Name(t.spec.optimizer.type());
        if (ct.dim() != t.spec.dim || ct.optimizer() != optimizer ||
            ct.state_floats() != t.stride - t.spec.dim) {
          return InvalidArgument(where + ": table \"" + ct.name() + "\" has dim " +
                                 std::to_string(ct.dim()) + " and optimizer " + ct.optimizer() +
                                 " in the checkpoint, dim " + std::to_string(t.spec.dim) +
                                 " and optimizer " + optimizer + " in this job");
        }
      }
    }
  }

  RETURN_IF_ERROR(Reset());
  const CheckpointLevel& last = chain.back();
  const bool same_layout = chain.size() == 1 && db_ != nullptr &&
                           last.shards[0].manifest.rocksdb() &&
                           last.manifest.num_shards() == options_.num_shards;
  if (same_layout) {
    // The shard's own RocksDB checkpoint becomes the database: a copy of its files, each
    // checked against the manifest as it is copied (the checkpoint stays independent).
    const CheckpointShard& mine = last.shards[options_.shard];
    db_.reset();
    std::error_code ec;
    fs::remove_all(options_.db_path, ec);
    if (ec) return IoError("remove " + options_.db_path + ": " + ec.message());
    RETURN_IF_ERROR(CopyCheckpointDb(mine, options_.db_path));
    ASSIGN_OR_RETURN(db_, OpenExistingDb(options_.db_path, *db_options_));
    for (const CheckpointTable& ct : mine.manifest.tables()) {
      tables_[table_by_hash_[ct.name_hash()]].rows = ct.rows();
    }
  } else {
    for (const CheckpointLevel& level : chain) {
      for (const CheckpointShard& shard : level.shards) {
        RETURN_IF_ERROR(LoadCheckpointShard(shard.dir, shard.manifest));
      }
    }
    RETURN_IF_ERROR(CommitPending());
    if (db_ != nullptr) {
      for (Table& t : tables_) {
        t.rows = 0;
        RETURN_IF_ERROR(
            ScanTableRange(db_.get(), t.spec.name_hash, [&](uint64_t, std::string_view) {
              ++t.rows;
              return Status::OK();
            }));
      }
    }
  }
  EndTrackingPeriod(last.dir, last.manifest.step());
  return Status::OK();
}

Status RowStore::ImportTables(const std::string& dir, const TableRenames& renames) {
  ASSIGN_OR_RETURN(const std::vector<CheckpointLevel> chain, LoadCheckpointChain(dir));
  // Source table hash -> this store's table; every source must be in every shard's manifest
  // with the target's row layout.
  std::unordered_map<uint64_t, int> into;
  std::vector<int> targets;
  for (const auto& [from, to] : renames) {
    auto target = table_by_hash_.find(StableHash(to));
    if (target == table_by_hash_.end() || tables_[target->second].spec.name != to) {
      return InvalidArgument("import from " + dir + ": table \"" + to + "\" is not in this job");
    }
    const Table& t = tables_[target->second];
    if (t.rows != 0) {
      return FailedPrecondition("import from " + dir + ": table \"" + to + "\" already holds " +
                                std::to_string(t.rows) +
                                " rows; tables are imported into empty ones");
    }
    for (const CheckpointLevel& level : chain) {
      for (const CheckpointShard& shard : level.shards) {
        const std::string where = shard.dir + "/" + kManifestName;
        const CheckpointTable* found = nullptr;
        for (const CheckpointTable& ct : shard.manifest.tables()) {
          if (ct.name() == from) found = &ct;
        }
        if (found == nullptr) {
          return InvalidArgument(where + ": the checkpoint has no table \"" + from +
                                 "\" to import into \"" + to + "\"");
        }
        const std::string optimizer = RowOptimizerConfig::Type_Name(t.spec.optimizer.type());
        if (found->dim() != t.spec.dim || found->optimizer() != optimizer ||
            found->state_floats() != t.stride - t.spec.dim) {
          return InvalidArgument(where + ": table \"" + from + "\" has dim " +
                                 std::to_string(found->dim()) + " and optimizer " +
                                 found->optimizer() + ", but \"" + to + "\" of this job has dim " +
                                 std::to_string(t.spec.dim) + " and optimizer " + optimizer +
                                 " (give both the same embedding settings)");
        }
        into[found->name_hash()] = target->second;
      }
    }
    targets.push_back(target->second);
  }
  for (const CheckpointLevel& level : chain) {
    for (const CheckpointShard& shard : level.shards) {
      RETURN_IF_ERROR(LoadCheckpointShard(shard.dir, shard.manifest, &into));
    }
  }
  RETURN_IF_ERROR(CommitPending());
  if (db_ != nullptr) {
    for (const int index : targets) {
      Table& t = tables_[index];
      t.rows = 0;
      RETURN_IF_ERROR(ScanTableRange(db_.get(), t.spec.name_hash, [&](uint64_t, std::string_view) {
        ++t.rows;
        return Status::OK();
      }));
    }
  }
  return Status::OK();
}

Status RowStore::LoadCheckpointShard(const std::string& shard_dir, const ShardManifest& manifest,
                                     const std::unordered_map<uint64_t, int>* into) {
  auto owned = [&](uint64_t table_hash, uint64_t key, Table** t) -> Status {
    int index = -1;
    if (into != nullptr) {
      // An import: rows of the tables not asked for are skipped.
      auto it = into->find(table_hash);
      if (it == into->end()) {
        *t = nullptr;
        return Status::OK();
      }
      index = it->second;
    } else {
      auto it = table_by_hash_.find(table_hash);
      if (it == table_by_hash_.end()) {
        return Corruption(shard_dir + ": a row of table hash " + std::to_string(table_hash) +
                          ", which its manifest does not list");
      }
      index = it->second;
    }
    Table& target = tables_[index];
    *t = ShardOf(target.spec.name_hash, key, options_.num_shards) == options_.shard ? &target
                                                                                    : nullptr;
    return Status::OK();
  };
  if (manifest.rocksdb()) {
    const std::string db_dir = shard_dir + "/db";
    ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::DB> old, OpenCheckpointDb(db_dir));
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(old->NewIterator(ro));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (it->key().size() != kRowKeyBytes) {
        return Corruption(db_dir + ": a key of " + std::to_string(it->key().size()) + " bytes");
      }
      uint64_t table_hash = 0, key = 0;
      DecodeRowKey(it->key().data(), &table_hash, &key);
      Table* t = nullptr;
      RETURN_IF_ERROR(owned(table_hash, key, &t));
      if (t == nullptr) continue;
      const std::string_view value(it->value().data(), it->value().size());
      RETURN_IF_ERROR(PutRestoredRow(*t, key, &value, db_dir));
    }
    return FromRocks(it->status(), "read " + db_dir);
  }
  const std::string path = shard_dir + "/" + kRowFileName;
  ASSIGN_OR_RETURN(std::unique_ptr<RowFileReader> in, RowFileReader::Open(path));
  size_t widest = 0;
  for (const Table& t : tables_) widest = std::max(widest, RowValueBytes(t.stride));
  RowFileRecord record;
  for (;;) {
    ASSIGN_OR_RETURN(const bool more, in->Next(&record, widest));
    if (!more) break;
    Table* t = nullptr;
    RETURN_IF_ERROR(owned(record.table_hash, record.key, &t));
    if (t == nullptr) continue;
    RETURN_IF_ERROR(PutRestoredRow(*t, record.key, record.deleted ? nullptr : &record.value, path));
  }
  return Status::OK();
}

Status RowStore::PutRestoredRow(Table& t, uint64_t key, const std::string_view* value,
                                const std::string& where) {
  const uint32_t slot = t.index.Find(key);
  if (value == nullptr) {
    if (slot != KeyIndex::kAbsent) {
      Drop(t, slot);
      --t.rows;
    }
    if (db_ != nullptr) pending_->Delete(t.spec.name_hash, key);
  } else {
    RowMeta stored;
    if (!ParseRowHeader(*value, t.stride, &stored)) {
      return BadRowValue(*value, t.stride, where + ": " + RowName(t.spec.name, key));
    }
    if (db_ != nullptr) {
      pending_->Put(t.spec.name_hash, key, *value);
    } else {
      RowMeta* m = nullptr;
      if (slot != KeyIndex::kAbsent) {
        m = Meta(t, slot);
      } else {
        ASSIGN_OR_RETURN(m, Allocate(t, key));
        ++t.rows;
      }
      m->last_seen = stored.last_seen;
      m->updates = stored.updates;
      m->frequency = stored.frequency;
      DecodeRowRecord(*value, t.stride, Record(m));
    }
  }
  if (db_ != nullptr && pending_->bytes() > kBatchBytes) return CommitPending();
  return Status::OK();
}

}  // namespace moerec
