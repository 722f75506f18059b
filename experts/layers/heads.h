// Heads: the per-index modules of the zoo (gates, towers, ...). A HeadIndex
// (proto/config.proto) says how many there are and which one serves a (domain, task):
//   BY_TASK         T heads; head t serves task t on every row of the batch.
//   BY_DOMAIN       D heads; head d serves every task on the rows of domain d (a tower of a
//                   domain has T outputs, a gate of a domain is shared by its tasks).
//   BY_DOMAIN_TASK  D*T heads; head d*T + t serves task t on the rows of domain d.
// Batches are sorted by domain, so a per-domain head runs on the contiguous row block
// [domain_begin[d], domain_begin[d + 1]) with GEMMs on views; an empty domain is an empty
// block and its heads do nothing.
// Thread-safety: pure functions.
#ifndef MOEREC_EXPERTS_LAYERS_HEADS_H_
#define MOEREC_EXPERTS_LAYERS_HEADS_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "proto/config.pb.h"

namespace moerec {

int NumHeads(HeadIndex index, int num_domains, int num_tasks);

// True when the heads run on a domain's row block (BY_DOMAIN, BY_DOMAIN_TASK).
inline bool PerDomain(HeadIndex index) { return index != BY_TASK; }

// The head that serves task `task` of domain `domain`.
int HeadFor(HeadIndex index, int num_tasks, int domain, int task);

// Rows [begin, end) of the batch.
struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};

// The rows of domain d, or the whole batch for d < 0. domain_begin: (D + 1).
inline RowRange DomainRows(const std::vector<int64_t>& domain_begin, int d) {
  if (d < 0) return RowRange{0, domain_begin.back()};
  return RowRange{domain_begin[d], domain_begin[d + 1]};
}

// The first `rows` rows of `t`, resized to (max(rows, 1), cols): an activation buffer that is
// valid for an empty batch too.
inline MatView RowBuffer(Tensor* t, int64_t rows, int64_t cols) {
  t->Resize({std::max<int64_t>(rows, 1), cols});
  return t->view().Rows(0, rows);
}

// CHECKs that domain_begin has D + 1 non-decreasing entries from 0 to rows.
void CheckDomainBegin(const std::vector<int64_t>& domain_begin, int num_domains, int64_t rows);

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_HEADS_H_
