// Exact rank-based AUC and GAUC over caller-owned arrays (docs/models.md "Metrics (definitions)").
//
// A label counts as positive when it is >= 0.5 (labels are 0 or 1). Tied scores get averaged
// ranks, so a tie between a positive and a negative counts one half. Both functions are
// O(n log n) or better (radix sort), allocate O(n) scratch, and are thread-safe. NaN scores
// have a fixed but meaningless rank; keep them out.
#ifndef MOEREC_WORKER_METRICS_AUC_H_
#define MOEREC_WORKER_METRICS_AUC_H_

#include <cstdint>

namespace moerec {

// AUC of scores (n) against labels (n); NaN when either class is missing (or n == 0).
double Auc(const float* scores, const float* labels, int64_t n);

// GAUC: Σ_u n_u AUC_u / Σ_u n_u over the groups u (groups: (n) keys, e.g. user ids) that hold
// both classes; n_u counts all of u's samples. NaN when no group holds both classes.
double Gauc(const float* scores, const float* labels, const uint64_t* groups, int64_t n);

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_AUC_H_
