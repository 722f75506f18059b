#include "embedding/sparse_input.h"

#include <algorithm>
#include <cstring>

#include "core/key_index.h"
#include "proto/text_config.h"

namespace moerec {

int64_t SparseBatch::total_keys() const {
  int64_t n = 0;
  for (const TableRequest& r : requests) n += static_cast<int64_t>(r.keys.size());
  return n;
}

SparseInput::SparseInput(std::vector<Slot> slots, std::vector<int> table_dims, int num_dense)
    : slots_(std::move(slots)), table_dims_(std::move(table_dims)), num_dense_(num_dense) {
  int column = 0;
  for (const Slot& s : slots_) {
    CHECK(s.table >= 0 && s.table < static_cast<int>(table_dims_.size()));
    columns_.push_back(column);
    column += table_dims_[s.table];
  }
  num_features_ = column + num_dense_;
}

SparseInput SparseInput::FromConfig(const JobConfig& config) {
  std::vector<Slot> slots;
  for (const SlotSpec& spec : config.data().slots()) {
    Slot s;
    s.table = FindTable(config, spec.has_table() ? spec.table() : spec.name());
    CHECK_GE(s.table, 0) << "slot " << spec.name() << " has no table; load configs with "
                         << "LoadJobConfig";
    s.pooling = spec.pooling() == POOLING_MEAN ? PoolingMode::kMean : PoolingMode::kSum;
    slots.push_back(s);
  }
  const ModelConfig& model = config.model();
  if (model.has_two_tower() && model.two_tower().has_distill()) {
    const int data_slots = static_cast<int>(slots.size());
    for (int d = 0; d < data_slots; ++d) {
      const SlotSpec& spec = config.data().slots(d);
      Slot s = slots[d];
      s.table = FindTable(config, TeacherTableName(config, spec));
      CHECK_GE(s.table, 0) << "slot " << spec.name() << " has no teacher table; load configs "
                           << "with LoadJobConfig";
      s.source = d;
      slots.push_back(s);
    }
  }
  std::vector<int> dims;
  for (const TableConfig& t : config.tables()) dims.push_back(t.dim());
  return SparseInput(std::move(slots), std::move(dims), config.data().num_dense());
}

void SparseInput::Prepare(const Batch& batch, SparseBatch* out) const {
  for (size_t s = 0; s < slots_.size(); ++s) CHECK_LT(source(s), batch.num_slots);
  const int num_tables = static_cast<int>(table_dims_.size());
  // Tables in order; a table appears once however many slots use it.
  std::vector<int> request_of_table(num_tables, -1);
  int num_requests = 0;
  for (const Slot& s : slots_) {
    if (request_of_table[s.table] < 0) request_of_table[s.table] = 0;
  }
  for (int t = 0; t < num_tables; ++t) {
    if (request_of_table[t] >= 0) request_of_table[t] = num_requests++;
  }
  out->requests.resize(num_requests);
  for (int t = 0; t < num_tables; ++t) {
    if (request_of_table[t] < 0) continue;
    TableRequest& r = out->requests[request_of_table[t]];
    r.table = t;
    r.keys.clear();
  }
  std::vector<KeyIndex> seen(num_requests, KeyIndex(batch.size * 2));
  out->index.resize(slots_.size());
  out->request_of_slot.resize(slots_.size());
  for (size_t s = 0; s < slots_.size(); ++s) {
    const int req = request_of_table[slots_[s].table];
    out->request_of_slot[s] = req;
    TableRequest& r = out->requests[req];
    KeyIndex& index = seen[req];
    const std::vector<uint64_t>& ids = batch.ids[source(s)];
    std::vector<int32_t>& rows = out->index[s];
    rows.resize(ids.size());
    for (size_t k = 0; k < ids.size(); ++k) {
      const uint32_t next = static_cast<uint32_t>(r.keys.size());
      if (index.Insert(ids[k], next)) {
        r.keys.push_back(ids[k]);
        rows[k] = static_cast<int32_t>(next);
      } else {
        rows[k] = static_cast<int32_t>(index.Find(ids[k]));
      }
    }
  }
  for (TableRequest& r : out->requests) r.values.resize(r.keys.size() * table_dims_[r.table]);
}

void SparseInput::Pool(const Batch& batch, const SparseBatch& pulled, MatView features) const {
  CHECK_EQ(features.rows, batch.size);
  CHECK_EQ(features.cols, num_features_);
  for (size_t s = 0; s < slots_.size(); ++s) {
    const TableRequest& r = pulled.requests[pulled.request_of_slot[s]];
    const int dim = table_dims_[slots_[s].table];
    ConstMatView rows(r.values.data(), static_cast<int64_t>(r.keys.size()), dim, dim);
    EmbeddingBagForward(rows, batch.offsets[source(s)].data(), pulled.index[s].data(),
                        slots_[s].pooling, features.Cols(columns_[s], dim));
  }
  if (num_dense_ > 0) {
    const int first = num_features_ - num_dense_;
    for (int64_t i = 0; i < batch.size; ++i) {
      std::memcpy(features.row(i) + first, batch.dense.data() + i * num_dense_,
                  num_dense_ * sizeof(float));
    }
  }
}

void SparseInput::PoolBackward(const Batch& batch, ConstMatView dfeatures,
                               SparseBatch* sparse) const {
  for (TableRequest& r : sparse->requests) std::fill(r.values.begin(), r.values.end(), 0.0f);
  for (size_t s = 0; s < slots_.size(); ++s) {
    TableRequest& r = sparse->requests[sparse->request_of_slot[s]];
    const int dim = table_dims_[slots_[s].table];
    MatView drows{r.values.data(), static_cast<int64_t>(r.keys.size()), dim, dim};
    EmbeddingBagBackward(dfeatures.Cols(columns_[s], dim), batch.offsets[source(s)].data(),
                         sparse->index[s].data(), slots_[s].pooling, drows);
  }
}

}  // namespace moerec
