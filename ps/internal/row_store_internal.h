// Pieces shared by the RowStore's source files (row_store*.cc); not for other users.
// Thread-safety: as RowStore.
#ifndef MOEREC_PS_INTERNAL_ROW_STORE_INTERNAL_H_
#define MOEREC_PS_INTERNAL_ROW_STORE_INTERNAL_H_

#include <rocksdb/db.h>
#include <rocksdb/slice.h>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "ps/row_store.h"

namespace moerec {

// The MultiGet buffers of the miss path. Answers are kept in sorted-key order; value_of[j] is
// the answer of miss j.
struct RowStore::MissBuffers {
  std::vector<std::pair<uint64_t, uint32_t>> order;  // (key, miss index), sorted
  std::vector<uint32_t> value_of;
  std::vector<rocksdb::Slice> keys;
  std::vector<rocksdb::PinnableSlice> values;
  std::vector<rocksdb::Status> statuses;

  // Unpins the first m values (their blocks stay pinned until then).
  void Release(size_t m) {
    for (size_t k = 0; k < m; ++k) values[k].Reset();
  }
};

// "table <name> key <key>", for messages.
inline std::string RowName(const std::string& table, uint64_t key) {
  return "table " + table + " key " + std::to_string(key);
}

// Calls fn(key, value) for every row of the table `table_hash` in `db`, in key order, without
// filling the block cache; stops at the first error fn returns.
Status ScanTableRange(rocksdb::DB* db, uint64_t table_hash,
                      const std::function<Status(uint64_t, std::string_view)>& fn);

}  // namespace moerec

#endif  // MOEREC_PS_INTERNAL_ROW_STORE_INTERNAL_H_
