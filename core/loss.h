// Losses: logits in, loss value and logit gradients out (fused forward/backward).
// Dimension legend: B samples, T tasks. logits, labels, probs, dlogits: (B, T) contiguous;
// mask: (B, T), 1 where the label is observed; weight: (B, T) per-element loss weight or null
// (null = 1). dlogits is written (not accumulated).
#ifndef MOEREC_CORE_LOSS_H_
#define MOEREC_CORE_LOSS_H_

#include <cstdint>

namespace moerec {

// Returns sum over observed elements of weight * BCE(sigmoid(logit), label), computed stably
// from the logit. Writes probs = sigmoid(logits) for every element (observed or not) when
// probs is not null, and dlogits = mask * weight * (sigmoid(logit) - label) when not null.
double MaskedSigmoidBce(const float* logits, const float* labels, const uint8_t* mask,
                        const float* weight, int64_t n, float* probs, float* dlogits);

}  // namespace moerec

#endif  // MOEREC_CORE_LOSS_H_
