// SparseInput: the step between a batch's sparse ids and the model's feature matrix.
//
// Prepare deduplicates each table's ids over the whole batch (all slots that use the table)
// into one TableRequest per table, in first-seen order, and records for every (slot, id) the row
// it maps to. The caller pulls the requests through an EmbeddingStore, then Pool writes each
// slot's pooled embedding into its column block of the features. PoolBackward turns feature
// gradients into one summed gradient per unique key, written over the pulled values of the same
// requests, ready to push. A slot whose table is listed but absent from the batch pools zeros.
//
// Feature layout (F columns): slot 0's pooled row (its table's dim) | slot 1 | ... | dense.
// Sizes: B samples, S slots, nnz_s ids of slot s in the batch.
// Thread-safety: a SparseInput is immutable after construction; SparseBatch belongs to one
// step. Two SparseBatches let the next batch's pull fly while this one computes.
#ifndef MOEREC_EMBEDDING_SPARSE_INPUT_H_
#define MOEREC_EMBEDDING_SPARSE_INPUT_H_

#include <cstdint>
#include <vector>

#include "core/embedding_bag.h"
#include "core/tensor.h"
#include "data/batch.h"
#include "embedding/embedding_store.h"
#include "embedding/table_spec.h"
#include "proto/config.pb.h"

namespace moerec {

struct SparseBatch {
  std::vector<TableRequest> requests;       // tables with ids in the batch, in table order
  std::vector<std::vector<int32_t>> index;  // (S) x (nnz_s): row within its table's request
  std::vector<int> request_of_slot;         // (S): index into requests, or -1 if none
  int64_t total_keys() const;
};

class SparseInput {
 public:
  struct Slot {
    int table = 0;  // index into the table specs
    PoolingMode pooling = PoolingMode::kSum;
    // The data slot whose ids this feature slot reads; -1 = the slot of its own index. A
    // distillation teacher reads every data slot again through tables of its own.
    int source = -1;
  };

  // `slots` in the data's slot order; `table_dims` indexed by table.
  SparseInput(std::vector<Slot> slots, std::vector<int> table_dims, int num_dense);
  // From a loaded job config (LoadJobConfig filled the tables): one feature slot per data
  // slot, then, for a two-tower model with distill, one per data slot again through the
  // teacher's table (TeacherTableName).
  static SparseInput FromConfig(const JobConfig& config);

  int num_features() const { return num_features_; }                 // F
  int num_slots() const { return static_cast<int>(slots_.size()); }  // S feature slots
  int source(int slot) const { return slots_[slot].source < 0 ? slot : slots_[slot].source; }
  int num_dense() const { return num_dense_; }
  int slot_column(int slot) const { return columns_[slot]; }
  // Width of slot's column block: its table's dim.
  int slot_dim(int slot) const { return table_dims_[slots_[slot].table]; }
  PoolingMode pooling(int slot) const { return slots_[slot].pooling; }

  // Fills *out for `batch` (its buffers are reused). requests[i].values is sized (n, dim).
  void Prepare(const Batch& batch, SparseBatch* out) const;
  // features: (B, F), written (pooled slots, then the batch's dense features).
  void Pool(const Batch& batch, const SparseBatch& pulled, MatView features) const;
  // dfeatures: (B, F). Overwrites every request's values with the summed row gradients.
  void PoolBackward(const Batch& batch, ConstMatView dfeatures, SparseBatch* sparse) const;

 private:
  std::vector<Slot> slots_;
  std::vector<int> table_dims_;
  std::vector<int> columns_;  // (S) first feature column of each slot
  int num_dense_ = 0;
  int num_features_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_EMBEDDING_SPARSE_INPUT_H_
