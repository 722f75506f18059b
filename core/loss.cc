#include "core/loss.h"

#include <algorithm>
#include <cmath>

namespace moerec {

double MaskedSigmoidBce(const float* logits, const float* labels, const uint8_t* mask,
                        const float* weight, int64_t n, float* probs, float* dlogits) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float z = logits[i];
    // One exp serves both the probability and the loss, and never overflows: e in (0, 1].
    const float e = std::exp(-std::fabs(z));
    const float p = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    if (probs != nullptr) probs[i] = p;
    if (mask != nullptr && mask[i] == 0) {
      if (dlogits != nullptr) dlogits[i] = 0.0f;
      continue;
    }
    const float w = weight != nullptr ? weight[i] : 1.0f;
    // BCE with logits: max(z, 0) - z * y + log(1 + exp(-|z|)).
    const double zd = z;
    const double loss = std::max(zd, 0.0) - zd * labels[i] + std::log1p(static_cast<double>(e));
    total += w * loss;
    if (dlogits != nullptr) dlogits[i] = w * (p - labels[i]);
  }
  return total;
}

}  // namespace moerec
