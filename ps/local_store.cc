#include "ps/local_store.h"

namespace moerec {

StatusOr<std::unique_ptr<LocalStore>> LocalStore::Open(std::vector<TableSpec> tables,
                                                       RowStoreOptions options) {
  std::vector<TableSpec> specs = tables;
  ASSIGN_OR_RETURN(std::unique_ptr<RowStore> rows,
                   RowStore::Open(std::move(tables), std::move(options)));
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(specs), std::move(rows)));
}

EmbeddingStore::Ticket LocalStore::Finish(Status status) {
  const Ticket t = next_ticket_++;
  done_.emplace(t, std::move(status));
  return t;
}

EmbeddingStore::Ticket LocalStore::Pull(std::vector<TableRequest>* requests, int64_t step,
                                        bool training) {
  Status status;
  for (TableRequest& r : *requests) {
    if (!status.ok()) break;
    status = CheckTableRequest(r, tables_);
    if (!status.ok()) break;
    status = rows_->Pull(r.table, r.keys.data(), static_cast<int64_t>(r.keys.size()), step,
                         training, r.values.data());
  }
  return Finish(std::move(status));
}

EmbeddingStore::Ticket LocalStore::Push(const std::vector<TableRequest>* requests, int64_t step) {
  Status status;
  for (const TableRequest& r : *requests) {
    if (!status.ok()) break;
    status = CheckTableRequest(r, tables_);
    if (!status.ok()) break;
    status = rows_->Push(r.table, r.keys.data(), static_cast<int64_t>(r.keys.size()), step,
                         r.values.data());
  }
  return Finish(std::move(status));
}

Status LocalStore::SaveSnapshot() { return rows_->SaveSnapshot(); }

Status LocalStore::RestoreSnapshot() { return rows_->RestoreSnapshot(); }

Status LocalStore::Checkpoint(const std::string& dir, int64_t step, bool incremental) {
  return rows_->Checkpoint(dir, step, incremental);
}

Status LocalStore::Restore(const std::string& dir, int64_t step) { return rows_->Restore(dir); }

Status LocalStore::ImportTables(const std::string& dir, const TableRenames& renames) {
  return rows_->ImportTables(dir, renames);
}

namespace {

StoreTableStats ToStoreTableStats(const TableStats& s) {
  StoreTableStats out;
  out.rows = s.rows;
  out.resident_rows = s.resident_rows;
  out.cache_hits = s.cache_hits;
  out.cache_misses = s.cache_misses;
  return out;
}

}  // namespace

StatusOr<StoreStats> LocalStore::Stats() {
  StoreStats out;
  for (int t = 0; t < rows_->num_tables(); ++t)
    out.tables.push_back(ToStoreTableStats(rows_->stats(t)));
  return out;
}

Status LocalStore::Wait(Ticket ticket) {
  auto it = done_.find(ticket);
  CHECK(it != done_.end()) << "Wait on unknown or already waited ticket " << ticket;
  Status s = std::move(it->second);
  done_.erase(it);
  return s;
}

}  // namespace moerec
