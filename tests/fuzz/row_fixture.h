// The parameter-server rows of the row-file fuzz target and its seeds: one Adagrad table of
// dim 4 in a memory-only RowStore, trained for a few steps, checkpointed (full, then an
// increment standing on it) through the public RowStore API.
#ifndef MOEREC_TESTS_FUZZ_ROW_FIXTURE_H_
#define MOEREC_TESTS_FUZZ_ROW_FIXTURE_H_

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "embedding/table_spec.h"
#include "ps/checkpoint.h"
#include "ps/row_store.h"

namespace moerec::fuzz {

inline std::vector<TableSpec> RowTables() {
  TableSpec t;
  t.name = "item";
  t.dim = 4;
  t.optimizer.set_type(RowOptimizerConfig::ADAGRAD);
  t.seed = 1;
  t.name_hash = StableHash(t.name);
  return {t};
}

inline std::unique_ptr<RowStore> OpenRows() {
  auto store = RowStore::Open(RowTables());
  if (!store.ok()) std::abort();
  return std::move(*store);
}

// Steps [first, first + steps) of pulls and pushes of keys 1..8.
inline void TrainRows(RowStore* store, int64_t first, int steps) {
  std::vector<uint64_t> keys = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<float> rows(keys.size() * 4), grads(keys.size() * 4);
  for (int64_t step = first; step < first + steps; ++step) {
    for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.01f * static_cast<float>(i + step);
    if (!store->Pull(0, keys.data(), keys.size(), step, true, rows.data()).ok()) std::abort();
    if (!store->Push(0, keys.data(), keys.size(), step, grads.data()).ok()) std::abort();
    keys.resize(keys.size() - 1);  // later steps touch fewer rows: increments differ
  }
}

// Writes a whole one-shard checkpoint of `store` to dir.
inline void CheckpointRows(RowStore* store, const std::string& dir, int64_t step,
                           bool incremental) {
  if (!store->Checkpoint(dir, step, incremental).ok() || !FinishCheckpoint(dir).ok()) {
    std::abort();
  }
}

}  // namespace moerec::fuzz

#endif  // MOEREC_TESTS_FUZZ_ROW_FIXTURE_H_
