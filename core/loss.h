// Losses: logits in, loss value and logit gradients out (fused forward/backward).
// Dimension legend: B samples, T tasks. logits, labels, probs, dlogits: (B, T) contiguous;
// mask: (B, T), 1 where the label is observed; weight: (B, T) per-element loss weight or null
// (null = 1). dlogits is written (not accumulated).
// Candidate losses (matching, distillation): Q query rows, C candidates per row; z, t, s, dz,
// ds: (Q, C) views; every row is independent, so results are the same for any thread count.
// Sums are accumulated in double.
// Devices: the view-taking losses run where their views are (core/internal/gpu_dispatch.h);
// the pointwise ones take `device`, where all their arrays live (null = the host). On a device
// the loss value is reduced there and copied back synchronously (core/gpu/loss.cu), and
// target / valid / mask / weight are device arrays too.
#ifndef MOEREC_CORE_LOSS_H_
#define MOEREC_CORE_LOSS_H_

#include <cstdint>

#include "core/tensor.h"

namespace moerec {

// Returns sum over observed elements of weight * BCE(sigmoid(logit), label), computed stably
// from the logit. Writes probs = sigmoid(logits) for every element (observed or not) when
// probs is not null, and dlogits = mask * weight * (sigmoid(logit) - label) when not null.
double MaskedSigmoidBce(const float* logits, const float* labels, const uint8_t* mask,
                        const float* weight, int64_t n, float* probs, float* dlogits,
                        GpuResources* device = nullptr);

// Softmax cross-entropy of each row's target among its valid candidates:
//   CE_q = logsumexp_{c valid} z_qc - z_q,target(q)
// target: (Q) in [0, C); valid: (Q, C) bytes (0 leaves a candidate out of the row's softmax,
// as a duplicate of the target item), or null = all valid; the target itself must be valid.
// Returns weight * sum_q CE_q; writes dz = weight * (softmax_valid(z_q) - onehot(target)), 0
// at invalid candidates.
double CandidateSoftmaxXent(ConstMatView z, const int64_t* target, const uint8_t* valid,
                            float weight, MatView dz);

// Distillation between two candidate distributions of the same rows:
//   KL_q = sum_c p_qc (log p_qc - log r_qc),  p = softmax(t_q / tau), r = softmax(s_q / tau)
// Returns weight * sum_q KL_q; writes ds = weight * (r - p) / tau (the student's gradient; the
// teacher gets none).
double SoftmaxKl(ConstMatView teacher, ConstMatView student, float tau, float weight,
                 MatView dstudent);

// Pointwise distillation: the Bernoulli KL of sigma(t_i / tau) against sigma(s_i / tau), over
// n elements. Returns weight * sum_i KL_i; writes ds_i = weight * (sigma(s_i / tau) -
// sigma(t_i / tau)) / tau.
double SigmoidKl(const float* teacher, const float* student, int64_t n, float tau, float weight,
                 float* dstudent, GpuResources* device = nullptr);

}  // namespace moerec

#endif  // MOEREC_CORE_LOSS_H_
