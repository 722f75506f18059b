#include "embedding/gpu_row_cache.h"

#include <glog/logging.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "embedding/internal/gpu_row_cache_kernels.h"

namespace moerec {
namespace {

constexpr int64_t kMaxCapacity = 0x7fffffff;  // slots are int32 in the gather sources

}  // namespace

StatusOr<std::unique_ptr<GpuRowCache>> GpuRowCache::Create(GpuResources* gpu,
                                                           EmbeddingStore* servers,
                                                           std::vector<TableSpec> tables,
                                                           const GpuRowCacheOptions& options) {
  if (gpu == nullptr) return InvalidArgument("GpuRowCache: gpu is null");
  if (servers == nullptr) return InvalidArgument("GpuRowCache: servers is null");
  if (options.capacity_rows < 1 || options.capacity_rows > kMaxCapacity) {
    return InvalidArgument("GpuRowCache: capacity_rows must be in [1, " +
                           std::to_string(kMaxCapacity) + "], got " +
                           std::to_string(options.capacity_rows));
  }
  if (options.staleness < 0) {
    return InvalidArgument("GpuRowCache: staleness must be >= 0, got " +
                           std::to_string(options.staleness));
  }
  for (const TableSpec& t : tables) {
    if (t.dim <= 0) {
      return InvalidArgument("GpuRowCache: table " + t.name + " has dim " + std::to_string(t.dim) +
                             "; dims must be positive");
    }
  }
  return std::unique_ptr<GpuRowCache>(new GpuRowCache(gpu, servers, std::move(tables), options));
}

GpuRowCache::GpuRowCache(GpuResources* gpu, EmbeddingStore* servers, std::vector<TableSpec> tables,
                         const GpuRowCacheOptions& options)
    : gpu_(gpu),
      servers_(servers),
      capacity_(options.capacity_rows),
      staleness_(options.staleness) {
  tables_.resize(tables.size());
  for (size_t t = 0; t < tables.size(); ++t) {
    TableCache& c = tables_[t];
    c.dim = tables[t].dim;
    // With staleness 0 nothing is ever served, so nothing is kept.
    if (staleness_ == 0) continue;
    c.rows = Tensor({capacity_ * c.dim}, gpu_);
    c.pulled_at.assign(capacity_, 0);
    c.keys.assign(capacity_, 0);
  }
  for (Step& s : steps_) {
    s.rows = Tensor({1}, gpu_);
    s.grads = Tensor({1}, gpu_);
    s.staged_event = gpu_row_cache::CreateEvent(gpu_);
    s.consumed_event = gpu_row_cache::CreateEvent(gpu_);
    s.pushed_event = gpu_row_cache::CreateEvent(gpu_);
  }
}

GpuRowCache::~GpuRowCache() {
  for (Step& s : steps_) {
    // Every servers' ticket is waited for (EmbeddingStore's contract).
    if (s.live && s.phase == Step::kPulling) servers_->Wait(s.pull).IgnoreError();
  }
  gpu_->SynchronizeAll();
  for (Step& s : steps_) {
    if (s.staging_device.data != nullptr) gpu_->Free(s.staging_device.data);
    gpu_->FreePinned(s.staging_host.data);
    gpu_->FreePinned(s.grads_host.data);
    gpu_row_cache::DestroyEvent(s.staged_event);
    gpu_row_cache::DestroyEvent(s.consumed_event);
    gpu_row_cache::DestroyEvent(s.pushed_event);
  }
}

GpuRowCache::Step* GpuRowCache::Find(Ticket ticket) {
  for (Step& s : steps_) {
    if (s.live && s.ticket == ticket) return &s;
  }
  LOG(FATAL) << "GpuRowCache: unknown or ended ticket " << ticket;
  return nullptr;
}

const GpuRowCache::Step* GpuRowCache::Find(Ticket ticket) const {
  return const_cast<GpuRowCache*>(this)->Find(ticket);
}

uint32_t GpuRowCache::Insert(TableCache* c, uint64_t key, int64_t step) {
  uint32_t slot = c->index.Find(key);
  if (slot == KeyIndex::kAbsent) {
    // Round-robin: a full cache replaces the slot filled longest ago (CachingStore::Insert).
    slot = static_cast<uint32_t>(c->used % capacity_);
    if (c->used >= capacity_) c->index.Erase(c->keys[slot]);
    ++c->used;
    c->keys[slot] = key;
    c->index.Insert(key, slot);
  }
  c->pulled_at[slot] = step;
  return slot;
}

void GpuRowCache::ReserveDevice(Buffer* b, int64_t bytes, void* event) {
  if (bytes <= b->bytes) return;
  if (b->data != nullptr) {
    gpu_row_cache::SynchronizeEvent(event);  // the last kernels reading it are done
    gpu_->Free(b->data);
  }
  b->bytes = std::max(bytes, 2 * b->bytes);
  b->data = gpu_->Allocate(b->bytes);
}

void GpuRowCache::ReservePinned(Buffer* b, int64_t bytes) {
  if (bytes <= b->bytes) return;
  gpu_->FreePinned(b->data);
  b->bytes = std::max(bytes, 2 * b->bytes);
  b->data = gpu_->AllocatePinned(b->bytes);
}

StatusOr<GpuRowCache::Ticket> GpuRowCache::Prefetch(const std::vector<TableRequest>& requests,
                                                    int64_t step, bool training) {
  CHECK(!prefetch_outstanding_) << "GpuRowCache: Prefetch before FinishPrefetch of the last one";
  std::vector<bool> seen(tables_.size(), false);
  for (size_t r = 0; r < requests.size(); ++r) {
    const int t = requests[r].table;
    if (t < 0 || t >= num_tables()) {
      return InvalidArgument("GpuRowCache::Prefetch: request " + std::to_string(r) +
                             " names table " + std::to_string(t) + "; the cache has " +
                             std::to_string(num_tables()) + " tables");
    }
    if (seen[t]) {
      return InvalidArgument("GpuRowCache::Prefetch: table " + std::to_string(t) +
                             " is requested twice; one request per table");
    }
    seen[t] = true;
  }
  Step* s = nullptr;
  for (Step& candidate : steps_) {
    if (!candidate.live) s = &candidate;
  }
  CHECK(s != nullptr) << "GpuRowCache: two tickets are live; end one (FinishPush or Release) "
                         "before the next Prefetch";
  s->live = true;
  s->ticket = next_ticket_++;
  s->step = step;
  s->training = training;
  s->passthrough = !training || staleness_ == 0;
  s->phase = Step::kPulling;
  s->failed = false;
  s->requests.resize(requests.size());
  s->gather.resize(requests.size());
  s->misses.clear();
  s->request_of_miss.clear();
  for (size_t r = 0; r < requests.size(); ++r) {
    const TableRequest& in = requests[r];
    TableRequest& req = s->requests[r];
    req.table = in.table;
    req.keys = in.keys;
    req.values.clear();
    TableCache& c = tables_[in.table];
    std::vector<int32_t>& gather = s->gather[r];
    gather.resize(in.keys.size());
    TableRequest miss;
    miss.table = in.table;
    for (size_t i = 0; i < in.keys.size(); ++i) {
      const uint32_t slot = s->passthrough ? KeyIndex::kAbsent : c.index.Find(in.keys[i]);
      if (slot != KeyIndex::kAbsent && step - c.pulled_at[slot] <= staleness_) {
        gather[i] = static_cast<int32_t>(slot);
        ++stats_.hits;
      } else {
        gather[i] = -1 - static_cast<int32_t>(miss.keys.size());
        miss.keys.push_back(in.keys[i]);
      }
    }
    if (training) stats_.misses += static_cast<int64_t>(miss.keys.size());
    // A forwarded pull keeps every request, as CachingStore forwards it unchanged.
    if (miss.keys.empty() && !s->passthrough) continue;
    miss.values.resize(miss.keys.size() * c.dim);
    s->misses.push_back(std::move(miss));
    s->request_of_miss.push_back(static_cast<int>(r));
  }
  // Even with every key resident, the pull goes out (empty), so the servers' step clocks see it.
  s->pull = servers_->Pull(&s->misses, step, training);
  prefetch_outstanding_ = true;
  return s->ticket;
}

Status GpuRowCache::FinishPrefetch(Ticket ticket) {
  Step* s = Find(ticket);
  CHECK(s->phase == Step::kPulling) << "GpuRowCache: FinishPrefetch twice on ticket " << ticket;
  prefetch_outstanding_ = false;
  s->phase = Step::kReady;
  if (Status pulled = servers_->Wait(s->pull); !pulled.ok()) {
    s->failed = true;
    return pulled;
  }
  const size_t n = s->requests.size();
  std::vector<int> miss_of_request(n, -1);
  for (size_t m = 0; m < s->misses.size(); ++m) miss_of_request[s->request_of_miss[m]] = m;

  // The cache's bookkeeping, in CachingStore::Wait's order; the scatter keeps each slot's last
  // writer (a step with more misses than slots replaces its own rows).
  std::vector<std::vector<int32_t>> pairs(n);
  for (size_t r = 0; r < n && !s->passthrough; ++r) {
    if (miss_of_request[r] < 0) continue;
    const TableRequest& miss = s->misses[miss_of_request[r]];
    TableCache& c = tables_[miss.table];
    std::vector<int32_t> slots(miss.keys.size());
    for (size_t j = 0; j < miss.keys.size(); ++j) {
      slots[j] = static_cast<int32_t>(Insert(&c, miss.keys[j], s->step));
    }
    KeyIndex written(miss.keys.size());
    for (size_t j = miss.keys.size(); j-- > 0;) {
      if (!written.Insert(static_cast<uint64_t>(slots[j]), 0)) continue;
      pairs[r].push_back(slots[j]);
      pairs[r].push_back(static_cast<int32_t>(j));
    }
  }

  // Layout of the staging (4-byte words) and of the step's blocks (floats).
  std::vector<int64_t> word_offset(n + 1, 0);
  s->row_offset.assign(n + 1, 0);
  for (size_t r = 0; r < n; ++r) {
    const int64_t u = static_cast<int64_t>(s->requests[r].keys.size());
    const int dim = tables_[s->requests[r].table].dim;
    const int64_t m = miss_of_request[r] < 0
                          ? 0
                          : static_cast<int64_t>(s->misses[miss_of_request[r]].keys.size());
    word_offset[r + 1] = word_offset[r] + u + static_cast<int64_t>(pairs[r].size()) + m * dim;
    s->row_offset[r + 1] = s->row_offset[r] + u * dim;
  }
  const int64_t bytes = word_offset[n] * 4;
  // The copy-in of this buffer's last step has left the pinned staging.
  gpu_row_cache::SynchronizeEvent(s->staged_event);
  ReservePinned(&s->staging_host, bytes);
  ReserveDevice(&s->staging_device, bytes, s->consumed_event);
  char* host = static_cast<char*>(s->staging_host.data);
  for (size_t r = 0; r < n; ++r) {
    char* p = host + word_offset[r] * 4;
    const std::vector<int32_t>& gather = s->gather[r];
    // (memcpy is not given the null data() of an empty vector.)
    if (!gather.empty()) std::memcpy(p, gather.data(), gather.size() * 4);
    p += gather.size() * 4;
    if (!pairs[r].empty()) std::memcpy(p, pairs[r].data(), pairs[r].size() * 4);
    p += pairs[r].size() * 4;
    if (miss_of_request[r] >= 0 && !s->misses[miss_of_request[r]].values.empty()) {
      const std::vector<float>& values = s->misses[miss_of_request[r]].values;
      std::memcpy(p, values.data(), values.size() * sizeof(float));
    }
  }
  const int64_t floats = std::max<int64_t>(s->row_offset[n], 1);
  if (floats > s->rows.capacity() || floats > s->grads.capacity()) {
    // Growing frees the old blocks; the compute work of this buffer's last step may still read
    // them (the batch grows only in the first steps).
    gpu_->Synchronize(GpuResources::kCompute);
  }
  s->rows.Resize({floats});
  s->grads.Resize({floats});

  // Host -> device on copy-in, once compute has finished with this buffer's last staging.
  gpu_row_cache::StreamWaitEvent(gpu_, GpuResources::kCopyIn, s->consumed_event);
  gpu_->Copy(s->staging_device.data, s->staging_host.data, bytes, GpuResources::kHostToDevice,
             GpuResources::kCopyIn);
  gpu_row_cache::RecordEvent(gpu_, s->staged_event, GpuResources::kCopyIn);
  gpu_->StreamWait(GpuResources::kCompute, GpuResources::kCopyIn);
  // Every gather before any scatter: a step's hit may sit in a slot its own misses replace.
  // The staging's sections, from byte offsets (the words are int32 or float by section).
  const char* base = static_cast<const char*>(s->staging_device.data);
  auto ints = [&](int64_t word) {
    return static_cast<const int32_t*>(static_cast<const void*>(base + word * 4));
  };
  auto floats_at = [&](int64_t word) {
    return static_cast<const float*>(static_cast<const void*>(base + word * 4));
  };
  for (size_t r = 0; r < n; ++r) {
    const int64_t u = static_cast<int64_t>(s->requests[r].keys.size());
    const TableCache& c = tables_[s->requests[r].table];
    const int64_t staged = word_offset[r] + u + static_cast<int64_t>(pairs[r].size());
    gpu_row_cache::GatherRows(gpu_, c.rows.data(), ints(word_offset[r]), floats_at(staged), u,
                              c.dim, s->rows.data() + s->row_offset[r]);
  }
  for (size_t r = 0; r < n; ++r) {
    if (pairs[r].empty()) continue;
    const int64_t u = static_cast<int64_t>(s->requests[r].keys.size());
    TableCache& c = tables_[s->requests[r].table];
    const int64_t k = static_cast<int64_t>(pairs[r].size()) / 2;
    gpu_row_cache::ScatterRows(gpu_, ints(word_offset[r] + u), k,
                               floats_at(word_offset[r] + u + 2 * k), c.dim, c.rows.data());
  }
  gpu_row_cache::RecordEvent(gpu_, s->consumed_event, GpuResources::kCompute);
  if (s->training) gpu_->Fill(s->grads.data(), s->row_offset[n], 0.0f);
  return Status::OK();
}

ConstMatView GpuRowCache::rows(Ticket ticket, int r) const {
  const Step* s = Find(ticket);
  CHECK(s->phase != Step::kPulling && !s->failed) << "GpuRowCache: rows before FinishPrefetch";
  CHECK(r >= 0 && r < static_cast<int>(s->requests.size()));
  const int dim = tables_[s->requests[r].table].dim;
  return ConstMatView(s->rows.data() + s->row_offset[r],
                      static_cast<int64_t>(s->requests[r].keys.size()), dim, dim, gpu_);
}

MatView GpuRowCache::gradients(Ticket ticket, int r) {
  Step* s = Find(ticket);
  CHECK(s->phase == Step::kReady && !s->failed && s->training)
      << "GpuRowCache: gradients of a ticket that is not a finished training prefetch";
  CHECK(r >= 0 && r < static_cast<int>(s->requests.size()));
  const int dim = tables_[s->requests[r].table].dim;
  return MatView{s->grads.data() + s->row_offset[r],
                 static_cast<int64_t>(s->requests[r].keys.size()), dim, dim, gpu_};
}

void GpuRowCache::PushGradients(Ticket ticket) {
  Step* s = Find(ticket);
  CHECK(s->phase == Step::kReady && !s->failed && s->training)
      << "GpuRowCache: PushGradients needs a finished training prefetch";
  const int64_t bytes = s->row_offset.back() * static_cast<int64_t>(sizeof(float));
  // The last push of this buffer was waited for in FinishPush, so the pinned block is free.
  ReservePinned(&s->grads_host, bytes);
  gpu_->StreamWait(GpuResources::kCopyOut, GpuResources::kCompute);
  gpu_->Copy(s->grads_host.data, s->grads.data(), bytes, GpuResources::kDeviceToHost,
             GpuResources::kCopyOut);
  gpu_row_cache::RecordEvent(gpu_, s->pushed_event, GpuResources::kCopyOut);
  s->phase = Step::kPushing;
}

Status GpuRowCache::FinishPush(Ticket ticket) {
  Step* s = Find(ticket);
  CHECK(s->phase == Step::kPushing) << "GpuRowCache: FinishPush before PushGradients";
  gpu_row_cache::SynchronizeEvent(s->pushed_event);
  const float* grads = static_cast<const float*>(s->grads_host.data);
  for (size_t r = 0; r < s->requests.size(); ++r) {
    s->requests[r].values.assign(grads + s->row_offset[r], grads + s->row_offset[r + 1]);
  }
  Status pushed = servers_->Wait(servers_->Push(&s->requests, s->step));
  s->live = false;
  return pushed;
}

void GpuRowCache::Release(Ticket ticket) {
  Step* s = Find(ticket);
  CHECK(s->phase != Step::kPushing) << "GpuRowCache: Release of a ticket whose gradients are "
                                       "being copied; FinishPush it";
  if (s->phase == Step::kPulling) {
    servers_->Wait(s->pull).IgnoreError();
    prefetch_outstanding_ = false;
  }
  s->live = false;
}

void GpuRowCache::Invalidate() {
  for (const Step& s : steps_) CHECK(!s.live) << "GpuRowCache: Invalidate with a ticket live";
  for (TableCache& c : tables_) {
    c.index.Clear();
    c.used = 0;
  }
}

}  // namespace moerec
