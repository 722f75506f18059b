// RowStore: the rows of one parameter-server shard (or of the in-process tables), for every
// table of the job. Each table keeps its rows in a slab of fixed-stride records
// [weights (dim) | optimizer state] found through a KeyIndex, with per-row metadata (sightings,
// last-seen step, update count). A row that does not exist is created on first pull by the
// table's initialiser (a pure function of table, key and seed).
//
// Pull copies rows out; Push applies the table's RowOptimizer to each listed row. Keys within
// one call must be unique (the clients deduplicate). Rows are never handed out by pointer.
// Thread-safety: none; the owner (a server's request loop, LocalStore) serialises calls.
#ifndef MOEREC_PS_ROW_STORE_H_
#define MOEREC_PS_ROW_STORE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "embedding/table_spec.h"
#include "ps/internal/key_index.h"
#include "ps/row_optimizer.h"

namespace moerec {

struct TableStats {
  int64_t rows = 0;        // rows held
  int64_t created = 0;     // rows created since the store opened
  int64_t pulled_keys = 0;
  int64_t pushed_keys = 0;
};

class RowStore {
 public:
  static StatusOr<std::unique_ptr<RowStore>> Open(std::vector<TableSpec> tables);
  ~RowStore();
  RowStore(const RowStore&) = delete;
  RowStore& operator=(const RowStore&) = delete;

  int num_tables() const { return static_cast<int>(tables_.size()); }
  const TableSpec& spec(int table) const { return tables_[table].spec; }

  // out: (n, dim). In training, rows not yet present are created, and `step` is recorded as
  // last seen; otherwise absent rows read as their initial value and nothing changes.
  Status Pull(int table, const uint64_t* keys, int64_t n, int64_t step, bool training,
              float* out);
  // grads: (n, dim), one summed gradient per key. Rows not present are created first.
  Status Push(int table, const uint64_t* keys, int64_t n, int64_t step, const float* grads);

  // Copies a row's weights and state into `record` ((dim + state floats)); false when absent.
  bool ReadRecord(int table, uint64_t key, std::vector<float>* record) const;

  TableStats stats(int table) const;

  // A deep copy (rows, state, metadata).
  std::unique_ptr<RowStore> Clone() const;

 private:
  struct Table {
    TableSpec spec;
    std::unique_ptr<RowOptimizer> optimizer;
    int stride = 0;  // floats per record
    KeyIndex index;
    std::vector<float> slab;         // (rows, stride)
    std::vector<int64_t> last_seen;  // (rows)
    std::vector<int64_t> updates;    // (rows)
    std::vector<uint32_t> seen;      // (rows) sightings, saturating
    TableStats stats;
  };

  explicit RowStore(std::vector<Table> tables) : tables_(std::move(tables)) {}
  Status CheckTable(int table, const char* op) const;
  // The slot of `key`, creating the row when absent.
  uint32_t FindOrCreate(Table* t, uint64_t key);

  std::vector<Table> tables_;
};

}  // namespace moerec

#endif  // MOEREC_PS_ROW_STORE_H_
