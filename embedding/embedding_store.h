// EmbeddingStore: where the rows of the sparse embedding tables live, seen from a worker.
// Implementations: in-process tables (ps/local_store.h, single-process training and tests), the
// parameter-server client (ps/client.h, over MPI) and the worker row cache in front of either
// (embedding/row_cache.h). The trainer does not know which.
//
// A request names, per table, a list of unique feature ids (keys) and a (n, dim) value buffer:
// rows are written into it by Pull; gradients are read from it by Push. Pull and Push start the
// work and return a ticket; Wait(ticket) completes it and returns its Status. The caller owns
// the request vector and keeps it alive and unchanged until Wait returns (no copy is made).
// Every ticket must be waited for exactly once. A request naming a table out of range, or
// whose value buffer does not hold n * dim floats, is refused with InvalidArgument (the same
// words from every implementation: CheckTableRequest).
//
// Semantics the trainer relies on:
//  - A pulled row is the row's current value; a row never seen before is created by the
//    table's initialiser, which is a pure function of (table, key, seed), unless admission
//    holds it back (then it reads as zeros and its gradients are dropped). A pull with
//    training = false (evaluation) creates nothing and counts no sighting: absent rows read as
//    a training pull would see them — their initial value, or zeros in a table whose
//    admission needs more than one sighting.
//  - Push applies the table's optimizer to each row with the given gradient (already summed per
//    key by the caller). `step` is the trainer's global step (eviction and Adam use it).
//  - Within one thread of calls, a Pull issued after Wait(push) sees the pushed update.
// Thread-safety: Pull, Push and Wait may be called from one thread at a time.
#ifndef MOEREC_EMBEDDING_EMBEDDING_STORE_H_
#define MOEREC_EMBEDDING_EMBEDDING_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "embedding/table_spec.h"

namespace moerec {

struct TableRequest {
  int table = 0;               // index into the job's table list
  std::vector<uint64_t> keys;  // (n) unique within the request
  std::vector<float> values;   // (n, dim) row-major; sized by the caller
};

// Counters of one table, cumulative since the store opened (each server: since it started),
// summed over the servers.
struct StoreTableStats {
  int64_t rows = 0;           // rows that exist (in memory or in RocksDB)
  int64_t resident_rows = 0;  // rows in the servers' memory (all of them without RocksDB)
  int64_t cache_hits = 0;     // pulled or pushed keys found in the servers' memory
  int64_t cache_misses = 0;   // pulled or pushed keys looked up in RocksDB
};

struct StoreStats {
  std::vector<StoreTableStats> tables;  // one per table of the job, in its order
  // A worker row cache in front of the store (embedding/row_cache.h): keys of this worker's
  // training pulls it served, and those it pulled from the store.
  int64_t worker_cache_hits = 0;
  int64_t worker_cache_misses = 0;
};

// InvalidArgument unless request.table is in [0, tables.size()) and request.values holds
// keys.size() * dim floats of that table.
Status CheckTableRequest(const TableRequest& request, const std::vector<TableSpec>& tables);

class EmbeddingStore {
 public:
  using Ticket = uint64_t;

  virtual ~EmbeddingStore() = default;

  virtual Ticket Pull(std::vector<TableRequest>* requests, int64_t step, bool training) = 0;
  virtual Ticket Push(const std::vector<TableRequest>* requests, int64_t step) = 0;
  virtual Status Wait(Ticket ticket) = 0;

  // Keeps a copy of every row (the state to come back to: early stopping's best evaluation),
  // replacing an earlier copy; RestoreSnapshot brings every row back to it. Synchronous: call
  // with no request in flight.
  virtual Status SaveSnapshot() = 0;
  virtual Status RestoreSnapshot() = 0;

  // Durable checkpoints (ps/checkpoint.h has the folder layout). Checkpoint writes every
  // shard's part of a checkpoint into `dir` — all rows, or with `incremental` the rows changed
  // since the previous checkpoint — and returns when all are written; the job manifest
  // (FinishCheckpoint) is the caller's. Restore replaces every row with those of the whole
  // checkpoint `dir`, whatever number of shards wrote it, and sets the sync clocks to `step`
  // (the workers go on with step `step`). Synchronous; with several workers
  // every worker calls them (they are collective).
  virtual Status Checkpoint(const std::string& dir, int64_t step, bool incremental) = 0;
  virtual Status Restore(const std::string& dir, int64_t step) = 0;
  // Copies tables of another job's whole checkpoint `dir` (any number of shards) into empty
  // tables of this store under new names: for each (from, to), the checkpoint's table `from`
  // into table `to` (same dim and optimizer); every other table is untouched (a frozen
  // distillation teacher's rows). InvalidArgument naming the table when one is missing or
  // differs, FailedPrecondition when `to` has rows, before any row changes. Synchronous and
  // collective, like Restore.
  virtual Status ImportTables(const std::string& dir, const TableRenames& renames) = 0;

  // The tables' counters. Synchronous; may be called between a Pull or Push and its Wait (a
  // parameter-server client asks every server).
  virtual StatusOr<StoreStats> Stats() = 0;

  // Bytes this store has sent and received over the network so far (0 for in-process stores).
  virtual int64_t wire_bytes() const { return 0; }
};

}  // namespace moerec

#endif  // MOEREC_EMBEDDING_EMBEDDING_STORE_H_
