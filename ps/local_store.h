// LocalStore: the EmbeddingStore of single-process training: every table lives in one
// in-process RowStore (memory only by default; RowStoreOptions may give it a RocksDB folder and
// a cache budget) and each call completes before it returns (Wait only reports the status).
// The parameter-server client gives the same results for the same calls.
// Thread-safety: as EmbeddingStore (one calling thread at a time).
#ifndef MOEREC_PS_LOCAL_STORE_H_
#define MOEREC_PS_LOCAL_STORE_H_

#include <map>
#include <memory>
#include <vector>

#include "embedding/embedding_store.h"
#include "ps/row_store.h"

namespace moerec {

class LocalStore : public EmbeddingStore {
 public:
  static StatusOr<std::unique_ptr<LocalStore>> Open(std::vector<TableSpec> tables,
                                                    RowStoreOptions options = {});

  Ticket Pull(std::vector<TableRequest>* requests, int64_t step, bool training) override;
  Ticket Push(const std::vector<TableRequest>* requests, int64_t step) override;
  Status Wait(Ticket ticket) override;
  Status SaveSnapshot() override;
  Status RestoreSnapshot() override;
  Status Checkpoint(const std::string& dir, int64_t step, bool incremental) override;
  Status Restore(const std::string& dir, int64_t step) override;
  Status ImportTables(const std::string& dir, const TableRenames& renames) override;
  StatusOr<StoreStats> Stats() override;

  RowStore* rows() { return rows_.get(); }

 private:
  LocalStore(std::vector<TableSpec> tables, std::unique_ptr<RowStore> rows)
      : tables_(std::move(tables)), rows_(std::move(rows)) {}
  Ticket Finish(Status status);

  const std::vector<TableSpec> tables_;
  std::unique_ptr<RowStore> rows_;
  Ticket next_ticket_ = 1;
  std::map<Ticket, Status> done_;  // completed, not yet waited for
};

}  // namespace moerec

#endif  // MOEREC_PS_LOCAL_STORE_H_
