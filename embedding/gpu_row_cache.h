// GpuRowCache: a GPU worker's embedding rows in device memory (HBM), in front of the servers
// (an EmbeddingStore: the parameter-server client, or ps/local_store.h in one process). It is
// the device twin of CachingStore (embedding/row_cache.h) and keeps its semantics exactly, for
// the same staleness and capacity: a row pulled for training at step s is served to training
// steps up to s + staleness without asking the servers; staleness 0 pulls every key every step;
// evaluation prefetches (training = false) bypass the cache; pushes always go to the servers and
// leave resident rows as they were pulled (the staleness bound is what brings the pushed update
// back, as in CachingStore; with staleness 0 every step sees every applied push). A table's cache
// holds `capacity_rows` rows of its dim in device memory of one GpuResources; a host-side
// KeyIndex maps key -> slot, and when it is full the slot filled longest ago is replaced
// (round-robin, CachingStore's policy, so both caches hold the same rows at every step).
//
// A step goes through a ticket. Prefetch(requests, step) looks each request's keys up and
// starts the servers' pull of those not resident (or stale). FinishPrefetch(ticket) waits for
// the servers, stages the pulled rows in pinned memory, copies them host -> device on the
// copy-in stream and, on the compute stream (after a StreamWait on copy-in), gathers the step's
// rows into a compact device block per request, (U, dim) in the request's key order (hits from
// the cache, misses from the staging), then writes the misses into their cache slots and zeroes
// the step's gradient block. rows(ticket, r) is that block: pool it with
//   EmbeddingBagForward(rows(ticket, r), offsets, index, mode, features.Cols(...))
// with device copies of the batch's offsets and of SparseBatch::index (the same index arrays as
// the host path; embedding/sparse_input.h). A compact block rather than pooling straight from
// cache slots because a step's own misses may replace its hits (a step with more unique keys
// than the capacity) and the next step's prefetch may replace this step's rows while it still
// computes; the block keeps each step's rows whatever the cache does next, for one on-device
// copy of U * dim floats per step. gradients(ticket, r) is the step's (U, dim) gradient block:
// zeroed by FinishPrefetch, the caller accumulates into it (EmbeddingBagBackward's += rule).
// PushGradients(ticket) orders the copy-out stream after the compute work queued so far
// (StreamWait) and copies the gradients device -> host into pinned memory; FinishPush(ticket)
// waits for that copy, pushes the rows to the servers (EmbeddingStore::Push at the ticket's step),
// waits for them and ends the ticket. A ticket that pushes nothing (evaluation) ends with Release.
//
// A GPU worker's step t, with p_t finished (two tickets live at once; their blocks are double
// buffered, so step t's compute, step t's copy-out and step t+1's copy-in overlap):
//   SSP / ASP:                                  BSP (every pull sees the previous push):
//     p_{t+1} = Prefetch(keys(t+1), t+1)          pool, forward, backward(t)      compute
//     pool, forward, backward(t)     compute      PushGradients(p_t)              copy-out
//     PushGradients(p_t)             copy-out     FinishPush(p_t)
//     FinishPrefetch(p_{t+1})        copy-in      p_{t+1} = Prefetch(keys(t+1), t+1)
//     dense all-reduce, optimizer    compute      FinishPrefetch(p_{t+1})         copy-in
//     FinishPush(p_t)                host         dense all-reduce, optimizer     compute
// The host does not wait for the device until FinishPush (for the copy-out, hence for the
// backward). Ordering on the device: copy-in waits for the compute work that last read its
// staging (an event), compute waits for copy-in before the gather (StreamWait), copy-out waits
// for compute before the gradient copy (StreamWait). The servers' pull of t+1 is issued from
// Prefetch, so in the SSP order it does not see step t's push (CachingStore in front of the
// same servers, called in the same order, gives the same rows: the tests check it bit for bit).
//
// Calls follow CachingStore's order: at most one prefetch is outstanding (Prefetch again only
// after FinishPrefetch of the last), at most two tickets are live, and the keys of a ticket are
// copied (the caller's requests may change after Prefetch returns). Protocol misuse is a CHECK;
// what the caller's data can get wrong (a table out of range, a table requested twice) is an
// InvalidArgument from Prefetch. Invalidate empties the cache (call it when the servers' rows
// change underneath: RestoreSnapshot, Restore, ImportTables), with no ticket live.
// Memory: the cache owns its device blocks, staging and pinned buffers; rows() and gradients()
// views stay valid until the ticket ends. The GpuResources and the servers must outlive it.
// A GPU worker's StepRunner (worker/step_runner.h) drives one in front of its store.
// Thread-safety: none; one thread drives a cache (the worker's step thread).
#ifndef MOEREC_EMBEDDING_GPU_ROW_CACHE_H_
#define MOEREC_EMBEDDING_GPU_ROW_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "core/gpu/resources.h"
#include "core/key_index.h"
#include "core/status.h"
#include "core/tensor.h"
#include "embedding/embedding_store.h"
#include "embedding/row_cache.h"
#include "embedding/table_spec.h"

namespace moerec {

struct GpuRowCacheOptions {
  int64_t capacity_rows = 0;  // rows cached per table; required, in [1, 2^31 - 1]
  int64_t staleness = 0;      // steps a pulled row may be served; >= 0 (0 = pull every key)
};

class GpuRowCache {
 public:
  using Ticket = uint64_t;

  // InvalidArgument naming the argument when gpu or servers is null, a table's dim is not
  // positive, or an option is out of range. Allocates every table's cache (capacity x dim).
  static StatusOr<std::unique_ptr<GpuRowCache>> Create(GpuResources* gpu, EmbeddingStore* servers,
                                                       std::vector<TableSpec> tables,
                                                       const GpuRowCacheOptions& options);
  ~GpuRowCache();
  GpuRowCache(const GpuRowCache&) = delete;
  GpuRowCache& operator=(const GpuRowCache&) = delete;

  // Starts step `step`'s pull. requests: one per table at most, keys unique within each (their
  // values are not read). Hit and miss counts are taken here, for training prefetches.
  StatusOr<Ticket> Prefetch(const std::vector<TableRequest>& requests, int64_t step, bool training);
  // The servers' status; on an error the ticket is still live (Release it).
  Status FinishPrefetch(Ticket ticket);

  // Request r's (U_r, dim) device blocks, r indexing Prefetch's requests. Valid after
  // FinishPrefetch, for compute-stream work, until the ticket ends.
  ConstMatView rows(Ticket ticket, int r) const;
  MatView gradients(Ticket ticket, int r);

  // Training tickets only, after FinishPrefetch.
  void PushGradients(Ticket ticket);
  // The servers' status of the push; the ticket ends either way.
  Status FinishPush(Ticket ticket);
  // Ends a ticket without pushing (evaluation, or an abandoned step).
  void Release(Ticket ticket);

  void Invalidate();

  // hits: keys served from device memory; misses: keys of training prefetches pulled from the
  // servers (with staleness 0, every key; CachingStore, which forwards such pulls, counts none).
  const RowCacheStats& stats() const { return stats_; }
  int num_tables() const { return static_cast<int>(tables_.size()); }
  int64_t capacity_rows() const { return capacity_; }

 private:
  struct TableCache {
    int dim = 0;
    Tensor rows;                     // (capacity, dim) on the device
    KeyIndex index;                  // key -> slot
    std::vector<int64_t> pulled_at;  // (capacity) step of the pull that filled the slot
    std::vector<uint64_t> keys;      // (capacity) key of the slot
    int64_t used = 0;                // slots filled so far (round-robin position)
  };
  // Raw memory that grows: device (through the GpuResources) or pinned host.
  struct Buffer {
    void* data = nullptr;
    int64_t bytes = 0;
  };
  // One live step. Staging layout (4-byte words), per request r in order: gather source (U_r
  // int32: slot >= 0 = cache row, -1 - j = staged miss row j), scatter pairs (2 x K_r int32:
  // slot, staged row; the last writer of each slot only), staged miss rows (M_r x dim floats).
  struct Step {
    bool live = false;
    Ticket ticket = 0;
    int64_t step = 0;
    bool training = false;
    bool passthrough = false;  // every key pulled, nothing inserted (evaluation, staleness 0)
    enum Phase { kPulling, kReady, kPushing } phase = kPulling;
    bool failed = false;                       // the servers' pull failed: no rows
    std::vector<TableRequest> requests;        // the keys; values carry the push's gradients
    std::vector<std::vector<int32_t>> gather;  // (requests) x (U_r) gather sources
    std::vector<TableRequest> misses;          // the servers' pull (non-empty ones)
    std::vector<int> request_of_miss;          // per miss request: index into requests
    EmbeddingStore::Ticket pull = 0;
    std::vector<int64_t> row_offset;  // (requests + 1) floats into rows / grads
    Tensor rows;                      // (sum U_r dim) on the device
    Tensor grads;                     // (sum U_r dim) on the device
    Buffer staging_host, staging_device, grads_host;
    void* staged_event = nullptr;    // copy-in done with staging_host (CUDA event; null on host)
    void* consumed_event = nullptr;  // compute done with staging_device
    void* pushed_event = nullptr;    // copy-out done with grads
  };

  GpuRowCache(GpuResources* gpu, EmbeddingStore* servers, std::vector<TableSpec> tables,
              const GpuRowCacheOptions& options);
  Step* Find(Ticket ticket);
  const Step* Find(Ticket ticket) const;
  // The slot `key` is written to, inserting it (and replacing the oldest slot) when absent.
  uint32_t Insert(TableCache* cache, uint64_t key, int64_t step);
  // Grow b to hold `bytes`; a device block is freed once `event` (its last reader) has passed.
  void ReserveDevice(Buffer* b, int64_t bytes, void* event);
  void ReservePinned(Buffer* b, int64_t bytes);

  GpuResources* const gpu_;
  EmbeddingStore* const servers_;
  const int64_t capacity_;
  const int64_t staleness_;
  std::vector<TableCache> tables_;
  Step steps_[2];
  bool prefetch_outstanding_ = false;
  Ticket next_ticket_ = 1;
  RowCacheStats stats_;
};

}  // namespace moerec

#endif  // MOEREC_EMBEDDING_GPU_ROW_CACHE_H_
