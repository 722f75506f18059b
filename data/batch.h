// Batch: a block of samples in columnar form, as the reader hands them to the trainer and as
// shard blocks store them. Sizes: B samples, T tasks, S slots, F dense features.
// Plain data; the owner is whoever holds it. Reset() keeps allocations for reuse.
// AppendFrom, Validate and SortBatchByDomain live in batch.cc (library moerec_data).
#ifndef MOEREC_DATA_BATCH_H_
#define MOEREC_DATA_BATCH_H_

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace moerec {

struct Batch {
  int64_t size = 0;  // B
  int num_tasks = 0;
  int num_slots = 0;
  int num_dense = 0;

  std::vector<int32_t> domain;      // (B) domain (scenario) index
  std::vector<uint64_t> user;       // (B) grouping key for GAUC
  std::vector<float> labels;        // (B, T) 0 or 1
  std::vector<uint8_t> label_mask;  // (B, T) 1 = label observed
  std::vector<float> truth;         // (B, T) true label probability; empty unless known
  std::vector<float> dense;         // (B, F)
  // Slot s of sample i holds ids[s][offsets[s][i] .. offsets[s][i + 1]); offsets[s] has B + 1
  // entries starting at 0.
  std::vector<std::vector<uint32_t>> offsets;  // S x (B + 1)
  std::vector<std::vector<uint64_t>> ids;      // S x nnz_s

  bool has_truth() const { return !truth.empty(); }

  // Empties the batch and sets its layout, keeping capacity.
  void Reset(int tasks, int slots, int dense_features) {
    size = 0;
    num_tasks = tasks;
    num_slots = slots;
    num_dense = dense_features;
    domain.clear();
    user.clear();
    labels.clear();
    label_mask.clear();
    truth.clear();
    dense.clear();
    offsets.resize(slots);
    ids.resize(slots);
    for (int s = 0; s < slots; ++s) {
      offsets[s].assign(1, 0);
      ids[s].clear();
    }
  }

  bool SameLayout(const Batch& o) const {
    return num_tasks == o.num_tasks && num_slots == o.num_slots && num_dense == o.num_dense;
  }

  // Appends samples [begin, end) of `src`. An empty batch first adopts src's layout; otherwise
  // the layouts must match and both or neither must carry truth (CHECKed: a program error).
  void AppendFrom(const Batch& src, int64_t begin, int64_t end);

  // Checks every structural invariant (column sizes, offsets starting at 0, monotone and ending
  // at nnz) and the values: domain in [0, num_domains) when num_domains > 0, labels and mask in
  // {0, 1}, truth in [0, 1], dense finite. InvalidArgument naming the sample and column.
  Status Validate(int num_domains) const;
};

// Reorders the samples of *batch by domain, stably (samples of one domain keep their order), so
// that domain d occupies rows [(*domain_begin)[d], (*domain_begin)[d + 1]); domain_begin gets
// num_domains + 1 entries. Every column moves with its sample. Domains must lie in
// [0, num_domains) (CHECKed: batches are validated when read). O(B + nnz); a batch that is
// already sorted is left untouched.
void SortBatchByDomain(Batch* batch, int num_domains, std::vector<int64_t>* domain_begin);

}  // namespace moerec

#endif  // MOEREC_DATA_BATCH_H_
