// The training loss of the ranking models: per task, the mean masked binary cross-entropy over
// the labels observed in the batch, summed over tasks:
//   L = Σ_t (1 / N_t) Σ_{i : mask_it = 1} BCE(σ(z_it), y_it)
// N_t counts the observed labels of task t in the *global* batch (all workers of a BSP step),
// so W workers with local batches give exactly the gradients of one process with the whole
// batch; a single process passes its own counts. A task with N_t = 0 contributes nothing.
// Sizes: B samples, T tasks; logits, dlogits, probs (B, T) contiguous.
// Thread-safety: pure functions.
#ifndef MOEREC_WORKER_TASK_LOSS_H_
#define MOEREC_WORKER_TASK_LOSS_H_

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "data/batch.h"

namespace moerec {

// counts: (T) observed labels per task in `batch`.
void CountObservedLabels(const Batch& batch, std::vector<double>* counts);

// Returns this batch's share of L given the global counts; writes dlogits = dL/dz (zero where
// unobserved) and probs = σ(z) (every element). `weights` is scratch (B, T), reused.
double TaskMeanBce(const Batch& batch, const Tensor& logits, const std::vector<double>& counts,
                   std::vector<float>* weights, Tensor* dlogits, Tensor* probs);

}  // namespace moerec

#endif  // MOEREC_WORKER_TASK_LOSS_H_
