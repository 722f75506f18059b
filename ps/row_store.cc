#include "ps/row_store.h"

#include <cstring>

namespace moerec {

StatusOr<std::unique_ptr<RowStore>> RowStore::Open(std::vector<TableSpec> specs) {
  std::vector<Table> tables(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    Table& t = tables[i];
    if (specs[i].dim < 1) {
      return InvalidArgument("table " + specs[i].name + ": dim must be >= 1");
    }
    t.spec = std::move(specs[i]);
    t.optimizer = RowOptimizer::Create(t.spec.optimizer);
    t.stride = t.spec.dim + t.optimizer->StateFloats(t.spec.dim);
  }
  return std::unique_ptr<RowStore>(new RowStore(std::move(tables)));
}

RowStore::~RowStore() = default;

uint32_t RowStore::FindOrCreate(Table* t, uint64_t key) {
  uint32_t slot = t->index.Find(key);
  if (slot != KeyIndex::kAbsent) return slot;
  slot = static_cast<uint32_t>(t->last_seen.size());
  CHECK_LT(slot, KeyIndex::kAbsent) << "table " << t->spec.name << " is full";
  t->slab.resize(t->slab.size() + t->stride);
  float* record = t->slab.data() + static_cast<size_t>(slot) * t->stride;
  InitRow(t->spec, key, record);
  t->optimizer->InitState(t->spec.dim, record + t->spec.dim);
  t->last_seen.push_back(0);
  t->updates.push_back(0);
  t->seen.push_back(0);
  t->index.Insert(key, slot);
  ++t->stats.created;
  return slot;
}

Status RowStore::CheckTable(int table, const char* op) const {
  if (table < 0 || table >= num_tables()) {
    return InvalidArgument(std::string(op) + " names table " + std::to_string(table) +
                           "; the store has " + std::to_string(num_tables()));
  }
  return Status::OK();
}

Status RowStore::Pull(int table, const uint64_t* keys, int64_t n, int64_t step, bool training,
                      float* out) {
  RETURN_IF_ERROR(CheckTable(table, "pull"));
  Table& t = tables_[table];
  const int dim = t.spec.dim;
  if (!training) {
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t slot = t.index.Find(keys[i]);
      if (slot == KeyIndex::kAbsent) {
        InitRow(t.spec, keys[i], out + i * dim);
      } else {
        std::memcpy(out + i * dim, t.slab.data() + static_cast<size_t>(slot) * t.stride,
                    dim * sizeof(float));
      }
    }
    return Status::OK();
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t slot = FindOrCreate(&t, keys[i]);
    std::memcpy(out + i * dim, t.slab.data() + static_cast<size_t>(slot) * t.stride,
                dim * sizeof(float));
    t.last_seen[slot] = step;
    if (t.seen[slot] != UINT32_MAX) ++t.seen[slot];
  }
  t.stats.pulled_keys += n;
  return Status::OK();
}

Status RowStore::Push(int table, const uint64_t* keys, int64_t n, int64_t step,
                      const float* grads) {
  RETURN_IF_ERROR(CheckTable(table, "push"));
  Table& t = tables_[table];
  const int dim = t.spec.dim;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t slot = FindOrCreate(&t, keys[i]);
    float* record = t.slab.data() + static_cast<size_t>(slot) * t.stride;
    t.optimizer->Update(dim, grads + i * dim, ++t.updates[slot], record, record + dim);
    t.last_seen[slot] = step;
  }
  t.stats.pushed_keys += n;
  return Status::OK();
}

bool RowStore::ReadRecord(int table, uint64_t key, std::vector<float>* record) const {
  const Table& t = tables_[table];
  const uint32_t slot = t.index.Find(key);
  if (slot == KeyIndex::kAbsent) return false;
  const float* r = t.slab.data() + static_cast<size_t>(slot) * t.stride;
  record->assign(r, r + t.stride);
  return true;
}

std::unique_ptr<RowStore> RowStore::Clone() const {
  std::vector<Table> copy(tables_.size());
  for (size_t i = 0; i < tables_.size(); ++i) {
    const Table& t = tables_[i];
    Table& c = copy[i];
    c.spec = t.spec;
    c.optimizer = RowOptimizer::Create(t.spec.optimizer);
    c.stride = t.stride;
    c.index = t.index;
    c.slab = t.slab;
    c.last_seen = t.last_seen;
    c.updates = t.updates;
    c.seen = t.seen;
    c.stats = t.stats;
  }
  return std::unique_ptr<RowStore>(new RowStore(std::move(copy)));
}

TableStats RowStore::stats(int table) const {
  TableStats s = tables_[table].stats;
  s.rows = static_cast<int64_t>(tables_[table].index.size());
  return s;
}

}  // namespace moerec
