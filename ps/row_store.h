// RowStore: the rows of one parameter-server shard (or of the in-process tables), for every
// table of the job. A row is its vector, its optimizer state and metadata (frequency, last-seen
// step, update count). A row that does not exist is created on a training pull by the table's
// initialiser (a pure function of table, key and seed), once admission lets it in.
//
// Storage tiers. Resident rows sit in per-table slabs of fixed-stride records found through a
// KeyIndex. With a RocksDB directory (RowStoreOptions::db_path) the whole table lives in one
// RocksDB per shard and the resident rows are a write-back cache under a byte budget: the misses
// of one call are read in one batched MultiGet (sorted keys, chunks of 1024), rows leave the
// cache by a CLOCK hand over all tables (a hit adds weight; a row read back from RocksDB starts
// at log2 of its stored frequency), and dirty rows are written back in one WriteBatch per call,
// in key order. The budget bounds resident rows; slab memory freed by one table is reused by that
// table only. Without a directory every row stays resident (memory only), no budget applies.
//
// Admission (TableStorageConfig.admission_min_count = k): a row is created only on the k-th
// training pull of its id, counted by a per-table count-min sketch (ps/internal/
// admission_filter.h). Until then a training pull reads the id as zeros and pushes to it are
// dropped. Evaluation pulls (training = false) create nothing and count nothing: absent rows read
// as their initial value.
//
// Metadata. A training pull records the step as last seen and counts one more sighting
// (frequency); a push records the step and applies the optimizer. When the table has an age or
// frequency eviction rule, metadata changes are written back like value changes; otherwise a row
// whose only change is its metadata leaves the cache without a write (so pull-only traffic costs
// no writes), and its stored last-seen step and frequency may lag. Flush and checkpoints write
// every change.
//
// Eviction (EvictStale, which the server calls every ServerConfig.evict_every_steps): deletes rows
// unseen for more than evict_unseen_steps or seen fewer than evict_min_frequency times, from the
// cache and from RocksDB (a full scan of the tables that have a rule).
//
// Errors. Bad arguments give InvalidArgument; a RocksDB failure gives IoError or Corruption and
// leaves the store unusable (rows written back in that call may be lost): the server stops and
// the job resumes from its last checkpoint.
//
// Checkpoints (ps/checkpoint.h has the layout): Checkpoint writes this shard's part, full (a
// RocksDB checkpoint, or a row file for memory-only stores) or incremental (the rows changed or
// deleted since the last checkpoint this store wrote or restored); Restore loads the rows this
// shard owns under its own shard count from a whole checkpoint written by any number of
// servers, after verifying every file (onto the same shard count, a RocksDB-backed store links
// its own part's files in instead of rewriting rows). After the first checkpoint or restore, the
// keys of changed rows that leave the cache are remembered until the next checkpoint (about 32
// bytes each, outside the budget).
//
// Pull copies rows out; Push applies the table's RowOptimizer to each listed row. Keys within
// one call must be unique (the clients deduplicate). Rows are never handed out by pointer.
// Thread-safety: none; the owner (a server's request loop, LocalStore) serialises calls.
#ifndef MOEREC_PS_ROW_STORE_H_
#define MOEREC_PS_ROW_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/key_index.h"
#include "core/status.h"
#include "embedding/table_spec.h"
#include "proto/ps.pb.h"
#include "ps/internal/admission_filter.h"
#include "ps/internal/slab.h"
#include "ps/internal/write_buffer.h"
#include "ps/row_codec.h"
#include "ps/row_optimizer.h"

namespace rocksdb {
class DB;
class WriteBatch;
struct Options;
struct ReadOptions;
struct WriteOptions;
}  // namespace rocksdb

namespace moerec {

struct RowStoreOptions {
  // Budget for resident rows (records, metadata and index), in bytes; applies with a db_path
  // only. At least 64 rows of the widest table always stay resident. Default 1 GiB.
  int64_t cache_bytes = int64_t{1} << 30;
  // This shard's RocksDB folder; empty = memory only. Scratch space owned by the store: Open
  // deletes whatever is there (durable state lives in checkpoints).
  std::string db_path;
  RocksDbConfig rocksdb;  // engine tuning; the proto's defaults
  int shard = 0;          // this store's shard in [0, num_shards); checkpoints and Restore use it
  int num_shards = 1;
};

// From the job's ServerConfig: cache_bytes = cache_mb MiB, db_path = <db_dir>/shard-<shard>.
RowStoreOptions RowStoreOptionsFromConfig(const ServerConfig& config, int shard, int num_shards);

struct TableStats {
  int64_t rows = 0;           // rows that exist (resident or in RocksDB)
  int64_t resident_rows = 0;  // rows in the cache
  int64_t created = 0;        // rows created since the store opened
  int64_t pulled_keys = 0;    // keys of training pulls
  int64_t pushed_keys = 0;
  int64_t cache_hits = 0;         // pulled or pushed keys found resident
  int64_t cache_misses = 0;       // pulled or pushed keys looked up in RocksDB
  int64_t loaded = 0;             // misses found in RocksDB
  int64_t admitted = 0;           // rows created after admission counted k sightings (k > 1)
  int64_t rejected = 0;           // training-pull keys held back by admission (read as zeros)
  int64_t dropped_gradients = 0;  // pushed keys without a row (not admitted): ignored
  int64_t evicted = 0;            // rows that left the cache under the budget
  int64_t written_back = 0;       // rows written to RocksDB (eviction and Flush)
  int64_t expired = 0;            // rows deleted by EvictStale: unseen too long
  int64_t infrequent = 0;         // rows deleted by EvictStale: frequency too low
};

struct CacheStats {
  int64_t budget_bytes = 0;    // 0 for memory-only stores (no budget)
  int64_t resident_bytes = 0;  // charged to the budget
  int64_t resident_rows = 0;
  int64_t slab_bytes = 0;  // allocated for records
};

// One row as stored.
struct RowView {
  const float* record = nullptr;  // (dim + state floats): weights, then optimizer state
  int64_t last_seen = 0;
  int64_t updates = 0;
  uint32_t frequency = 0;
};

class RowStore {
 public:
  static StatusOr<std::unique_ptr<RowStore>> Open(std::vector<TableSpec> tables,
                                                  RowStoreOptions options = {});
  ~RowStore();
  RowStore(const RowStore&) = delete;
  RowStore& operator=(const RowStore&) = delete;

  int num_tables() const { return static_cast<int>(tables_.size()); }
  const TableSpec& spec(int table) const { return tables_[table].spec; }
  // Floats per stored record of the table: dim + optimizer state.
  int stride(int table) const { return tables_[table].stride; }
  bool memory_only() const { return db_ == nullptr; }
  const RowStoreOptions& options() const { return options_; }

  // out: (n, dim). In training, absent rows are created once admitted (otherwise they read as
  // zeros), `step` is recorded as last seen and a sighting is counted; otherwise absent rows
  // read as their initial value and nothing changes.
  Status Pull(int table, const uint64_t* keys, int64_t n, int64_t step, bool training, float* out);
  // grads: (n, dim), one summed gradient per key. Absent rows are created first when the table
  // admits on first sight (k = 1); otherwise their gradients are dropped.
  Status Push(int table, const uint64_t* keys, int64_t n, int64_t step, const float* grads);

  // Calls fn for the row (resident or stored) and returns true; false when it does not exist.
  StatusOr<bool> ReadRow(int table, uint64_t key,
                         const std::function<void(const RowView&)>& fn) const;
  // Calls fn(key, row) for every row of the table, in no particular order.
  Status ScanRows(int table, const std::function<void(uint64_t, const RowView&)>& fn) const;

  // Writes every changed resident row to RocksDB; with drop_cache also empties the cache.
  // Memory-only stores: nothing to do.
  Status Flush(bool drop_cache = false);
  // The eviction sweep: deletes every row that the tables' rules (evict_unseen_steps,
  // evict_min_frequency) reject at `step`. Reads all of RocksDB for tables with rules.
  Status EvictStale(int64_t step);
  // Compacts RocksDB's files (after a bulk load). Memory-only stores: nothing to do.
  Status CompactStorage();

  // Keeps a copy of every row (RocksDB-backed stores: a RocksDB checkpoint next to db_path),
  // replacing an earlier copy; RestoreSnapshot brings every row back to it and ends change
  // tracking (the next checkpoint is full).
  Status SaveSnapshot();
  Status RestoreSnapshot();

  // Writes this shard's part of the checkpoint `dir` (ps/checkpoint.h): flushes, then a full
  // checkpoint, or with `incremental` the rows changed or deleted since the last checkpoint this
  // store wrote or restored (full when there is none). The chief then calls
  // FinishCheckpoint(dir). FailedPrecondition when this shard's part already exists. An
  // increment whose base is gone (no job manifest) or is `dir` itself is written full instead.
  Status Checkpoint(const std::string& dir, int64_t step, bool incremental);
  // Replaces every row with those of the whole checkpoint `dir` (and the chain it stands on)
  // that this shard owns under options().shard / num_shards (ShardOf). Checks every manifest and
  // file first and the table layout (names, dims, optimizer state); on any such error nothing
  // changes. Admission counts restart from zero.
  Status Restore(const std::string& dir);
  // Fills the empty table `to` with the rows of table `from` of the whole checkpoint `dir` (of
  // another job, written by any number of shards) that this shard owns under `to`, for each
  // (from, to) of `renames`; every other table is untouched. The two tables need the same row
  // layout (dim, optimizer). InvalidArgument naming the table when one is missing or differs,
  // FailedPrecondition when `to` holds rows, before anything changes.
  Status ImportTables(const std::string& dir, const TableRenames& renames);
  // The step of the checkpoint last written or restored; -1 when none.
  int64_t last_checkpoint_step() const { return last_checkpoint_step_; }

  TableStats stats(int table) const;
  CacheStats cache_stats() const;

  // A deep copy of a memory-only store (rows, state, metadata, stats). Prefer SaveSnapshot.
  std::unique_ptr<RowStore> Clone() const;

  // The RocksDB instance (null when memory only), for benchmarks that compare with the raw
  // engine on the same data. Not for changing rows.
  rocksdb::DB* db_for_benchmark() { return db_.get(); }

 private:
  struct Table {
    TableSpec spec;
    std::unique_ptr<RowOptimizer> optimizer;
    int stride = 0;           // floats per record
    int64_t row_cost = 0;     // bytes charged to the budget per resident row
    bool meta_rules = false;  // an age or frequency rule: metadata changes are written back
    KeyIndex index;           // key -> slot
    Slab slab;                // [RowMeta | float[stride]] records
    std::vector<uint32_t> free_slots;
    std::unique_ptr<AdmissionFilter> filter;  // admission_min_count > 1
    // Keys changed (0) or deleted (1) since the last checkpoint while not resident; resident
    // rows carry kRowChanged instead. Used only while tracking_.
    KeyIndex changed;
    int64_t rows = 0;
    TableStats stats;
  };

  RowStore(std::vector<Table> tables, RowStoreOptions options);
  static Table CopyTable(const Table& t, bool with_rows);

  Status CheckTable(int table, const char* op) const;
  RowMeta* Meta(Table& t, uint32_t slot) { return reinterpret_cast<RowMeta*>(t.slab.at(slot)); }
  const RowMeta* Meta(const Table& t, uint32_t slot) const {
    return reinterpret_cast<const RowMeta*>(t.slab.at(slot));
  }
  static float* Record(RowMeta* m) { return reinterpret_cast<float*>(m + 1); }
  static const float* Record(const RowMeta* m) { return reinterpret_cast<const float*>(m + 1); }

  // A training pull or a push used the row.
  void Touch(Table& t, RowMeta* m, int64_t step, bool pulled) const;
  // A free slot of table t for `key`, evicting rows under the budget; the record is zeroed
  // except the key and kRowOccupied.
  // FailedPrecondition when the table holds the most rows one store can index.
  StatusOr<RowMeta*> Allocate(Table& t, uint64_t key);
  // A new row at its initial value.
  StatusOr<RowMeta*> Create(Table& t, uint64_t key);
  // A training pull of an absent key: true when the row may be created now; *sightings is
  // then the frequency it starts with.
  bool Admit(Table& t, uint64_t key, uint32_t* sightings);
  void EvictOne();
  void Evict(Table& t, uint32_t slot);
  // Deletes a resident row (no write-back).
  void Drop(Table& t, uint32_t slot);
  void NoteChanged(Table& t, uint64_t key, bool deleted);

  // Looks up keys[miss_[*]] in RocksDB with one MultiGet; values_ / found_ hold the answers.
  Status LoadMisses(Table& t, const uint64_t* keys);
  // What RocksDB returned for the j-th missed key (after LoadMisses): *value stays empty when
  // the row is not stored; Corruption naming the row when its value does not parse.
  Status StoredMiss(Table& t, size_t j, uint64_t key, std::string_view* value, RowMeta* stored);
  // Makes a row read from RocksDB resident (may evict), with its stored state.
  StatusOr<RowMeta*> Reload(Table& t, uint64_t key, std::string_view value, const RowMeta& stored);
  // Writes pending_ (write-backs and deletes of this call) to RocksDB.
  Status CommitPending();
  // Adds the row's value to pending_.
  void WriteBack(const Table& t, const RowMeta* m);

  // Removes every row (cache and RocksDB) and the change tracking.
  Status Reset();
  Status WriteFullCheckpoint(const std::string& shard_dir, ShardManifest* manifest);
  Status WriteIncrement(const std::string& shard_dir, ShardManifest* manifest);
  // Puts the rows of one checkpoint shard that this store owns: of every table (restore), or,
  // with `into` (source table hash -> table index), of those tables only, under the target
  // table (an import).
  Status LoadCheckpointShard(const std::string& shard_dir, const ShardManifest& manifest,
                             const std::unordered_map<uint64_t, int>* into = nullptr);
  // Stores one row read from a checkpoint (value = nullptr: deletes it).
  Status PutRestoredRow(Table& t, uint64_t key, const std::string_view* value,
                        const std::string& where);
  void EndTrackingPeriod(const std::string& dir, int64_t step);

  RowStoreOptions options_;
  std::vector<Table> tables_;
  std::map<uint64_t, int> table_by_hash_;

  // RocksDB (null when memory only).
  std::unique_ptr<rocksdb::Options> db_options_;
  std::unique_ptr<rocksdb::ReadOptions> read_options_;
  std::unique_ptr<rocksdb::WriteOptions> write_options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<WriteBuffer> pending_;
  std::unique_ptr<rocksdb::WriteBatch> batch_;

  // Cache accounting and the CLOCK hand (table, slot).
  int64_t budget_bytes_ = 0;  // 0 = no budget
  int64_t resident_bytes_ = 0;
  int64_t resident_rows_ = 0;
  int hand_table_ = 0;
  size_t hand_slot_ = 0;

  // Change tracking for incremental checkpoints (after the first checkpoint or a restore).
  bool tracking_ = false;
  std::string last_checkpoint_dir_;
  int64_t last_checkpoint_step_ = -1;

  // Snapshot (SaveSnapshot): memory-only stores keep table copies; RocksDB-backed ones keep the
  // per-table counters (the rows are in the snapshot folder).
  std::vector<Table> snapshot_;
  bool has_snapshot_ = false;

  // Scratch of the miss path, reused across calls.
  std::vector<uint32_t> slots_;
  std::vector<int64_t> miss_;
  std::vector<char> miss_keys_;
  struct MissBuffers;
  std::unique_ptr<MissBuffers> miss_buffers_;
  std::string value_scratch_;
};

}  // namespace moerec

#endif  // MOEREC_PS_ROW_STORE_H_
