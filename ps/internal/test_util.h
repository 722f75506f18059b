// Helpers of the ps tests: table specs, reading every row of a store (temporary folders:
// core/temp_dir.h).
// Test-only; not linked into the library.
#ifndef MOEREC_PS_INTERNAL_TEST_UTIL_H_
#define MOEREC_PS_INTERNAL_TEST_UTIL_H_

#include <glog/logging.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/temp_dir.h"
#include "ps/row_store.h"

namespace moerec::testing {

inline TableSpec MakeSpec(const std::string& name, int dim, RowOptimizerConfig::Type type,
                          float lr) {
  TableSpec s;
  s.name = name;
  s.dim = dim;
  s.optimizer.set_type(type);
  s.optimizer.set_learning_rate(lr);
  s.seed = 11;
  s.name_hash = StableHash(name);
  return s;
}

// A row as stored, compared bit for bit.
struct RowData {
  std::vector<float> record;
  int64_t last_seen = 0;
  int64_t updates = 0;
  uint32_t frequency = 0;

  bool SameValues(const RowData& o) const {
    return record.size() == o.record.size() &&
           std::memcmp(record.data(), o.record.data(), record.size() * sizeof(float)) == 0 &&
           updates == o.updates;
  }
  bool operator==(const RowData& o) const {
    return SameValues(o) && last_seen == o.last_seen && frequency == o.frequency;
  }
};

using RowMap = std::map<std::pair<int, uint64_t>, RowData>;

// Every row of every table; adds to *rows and fails the CHECK on a duplicate.
inline void CollectRows(const RowStore& store, RowMap* rows) {
  for (int t = 0; t < store.num_tables(); ++t) {
    const int stride = store.stride(t);
    Status s = store.ScanRows(t, [&](uint64_t key, const RowView& v) {
      RowData d;
      d.record.assign(v.record, v.record + stride);
      d.last_seen = v.last_seen;
      d.updates = v.updates;
      d.frequency = v.frequency;
      CHECK(rows->emplace(std::make_pair(t, key), std::move(d)).second)
          << "row " << key << " of table " << t << " listed twice";
    });
    CHECK(s.ok()) << s.ToString();
  }
}

inline RowMap AllRows(const RowStore& store) {
  RowMap rows;
  CollectRows(store, &rows);
  return rows;
}

}  // namespace moerec::testing

#endif  // MOEREC_PS_INTERNAL_TEST_UTIL_H_
