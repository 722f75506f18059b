#include "embedding/row_cache.h"

#include <glog/logging.h>

#include <cstring>

namespace moerec {

CachingStore::CachingStore(EmbeddingStore* inner, std::vector<TableSpec> tables, int64_t staleness,
                           int64_t capacity_rows)
    : inner_(inner), staleness_(staleness), capacity_(capacity_rows) {
  CHECK_GE(staleness, 0);
  CHECK_GE(capacity_rows, 1);
  tables_.resize(tables.size());
  for (size_t t = 0; t < tables.size(); ++t) tables_[t].dim = tables[t].dim;
}

void CachingStore::Insert(TableCache* c, uint64_t key, const float* row, int64_t step) {
  uint32_t slot = c->index.Find(key);
  if (slot == KeyIndex::kAbsent) {
    if (c->rows.empty()) {
      // Allocated on first use, at full capacity (rows never move afterwards).
      c->rows.resize(static_cast<size_t>(capacity_) * c->dim);
      c->pulled_at.assign(capacity_, 0);
      c->keys.assign(capacity_, 0);
    }
    // Slots are filled round-robin, so a full cache replaces the slot filled longest ago.
    slot = static_cast<uint32_t>(c->used % capacity_);
    if (c->used >= capacity_) c->index.Erase(c->keys[slot]);
    ++c->used;
    c->keys[slot] = key;
    c->index.Insert(key, slot);
  }
  std::memcpy(c->rows.data() + static_cast<size_t>(slot) * c->dim, row, c->dim * sizeof(float));
  c->pulled_at[slot] = step;
}

void CachingStore::Clear() {
  for (TableCache& c : tables_) {
    c.index.Clear();
    c.used = 0;
  }
}

EmbeddingStore::Ticket CachingStore::Pull(std::vector<TableRequest>* requests, int64_t step,
                                          bool training) {
  const Ticket ticket = next_ticket_++;
  PendingPull& p = pulls_[ticket];
  p.target = requests;
  p.step = step;
  if (!training || staleness_ == 0) {
    p.passthrough = true;
    p.inner = inner_->Pull(requests, step, training);
    return ticket;
  }
  for (size_t r = 0; r < requests->size(); ++r) {
    TableRequest& req = (*requests)[r];
    CHECK(req.table >= 0 && req.table < static_cast<int>(tables_.size()))
        << "request names table " << req.table;
    TableCache& c = tables_[req.table];
    TableRequest miss;
    miss.table = req.table;
    std::vector<uint32_t> positions;
    for (size_t i = 0; i < req.keys.size(); ++i) {
      const uint32_t slot = c.index.Find(req.keys[i]);
      if (slot != KeyIndex::kAbsent && step - c.pulled_at[slot] <= staleness_) {
        std::memcpy(req.values.data() + i * c.dim,
                    c.rows.data() + static_cast<size_t>(slot) * c.dim, c.dim * sizeof(float));
        ++stats_.hits;
      } else {
        miss.keys.push_back(req.keys[i]);
        positions.push_back(static_cast<uint32_t>(i));
      }
    }
    if (miss.keys.empty()) continue;
    stats_.misses += static_cast<int64_t>(miss.keys.size());
    miss.values.resize(miss.keys.size() * c.dim);
    p.misses.push_back(std::move(miss));
    p.positions.push_back(std::move(positions));
    p.target_of_miss.push_back(static_cast<int>(r));
  }
  // Even with every key cached, the pull goes out (empty), so the servers' step clocks see it.
  p.inner = inner_->Pull(&p.misses, step, true);
  return ticket;
}

EmbeddingStore::Ticket CachingStore::Push(const std::vector<TableRequest>* requests, int64_t step) {
  const Ticket ticket = next_ticket_++;
  others_[ticket] = inner_->Push(requests, step);
  return ticket;
}

Status CachingStore::Wait(Ticket ticket) {
  auto other = others_.find(ticket);
  if (other != others_.end()) {
    const Ticket inner = other->second;
    others_.erase(other);
    return inner_->Wait(inner);
  }
  auto it = pulls_.find(ticket);
  CHECK(it != pulls_.end()) << "Wait on unknown or already waited ticket " << ticket;
  PendingPull p = std::move(it->second);
  pulls_.erase(it);
  RETURN_IF_ERROR(inner_->Wait(p.inner));
  if (p.passthrough) return Status::OK();
  for (size_t m = 0; m < p.misses.size(); ++m) {
    const TableRequest& miss = p.misses[m];
    TableRequest& req = (*p.target)[p.target_of_miss[m]];
    TableCache& c = tables_[miss.table];
    for (size_t j = 0; j < miss.keys.size(); ++j) {
      const float* row = miss.values.data() + j * c.dim;
      std::memcpy(req.values.data() + static_cast<size_t>(p.positions[m][j]) * c.dim, row,
                  c.dim * sizeof(float));
      Insert(&c, miss.keys[j], row, p.step);
    }
  }
  return Status::OK();
}

Status CachingStore::SaveSnapshot() { return inner_->SaveSnapshot(); }

Status CachingStore::RestoreSnapshot() {
  Clear();
  return inner_->RestoreSnapshot();
}

Status CachingStore::Checkpoint(const std::string& dir, int64_t step, bool incremental) {
  return inner_->Checkpoint(dir, step, incremental);
}

Status CachingStore::Restore(const std::string& dir, int64_t step) {
  Clear();
  return inner_->Restore(dir, step);
}

Status CachingStore::ImportTables(const std::string& dir, const TableRenames& renames) {
  Clear();
  return inner_->ImportTables(dir, renames);
}

StatusOr<StoreStats> CachingStore::Stats() {
  ASSIGN_OR_RETURN(StoreStats out, inner_->Stats());
  out.worker_cache_hits += stats_.hits;
  out.worker_cache_misses += stats_.misses;
  return out;
}

}  // namespace moerec
