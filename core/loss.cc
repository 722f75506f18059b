#include "core/loss.h"

#include <cmath>

namespace moerec {

double MaskedSigmoidBce(const float* logits, const float* labels, const uint8_t* mask,
                        const float* weight, int64_t n, float* probs, float* dlogits) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float z = logits[i];
    const float p = 1.0f / (1.0f + std::exp(-z));
    if (probs != nullptr) probs[i] = p;
    if (mask != nullptr && mask[i] == 0) {
      if (dlogits != nullptr) dlogits[i] = 0.0f;
      continue;
    }
    const float w = weight != nullptr ? weight[i] : 1.0f;
    // BCE with logits: max(z, 0) - z * y + log(1 + exp(-|z|)).
    const double loss = std::max(z, 0.0f) - z * labels[i] + std::log1p(std::exp(-std::fabs(z)));
    total += w * loss;
    if (dlogits != nullptr) dlogits[i] = w * (p - labels[i]);
  }
  return total;
}

}  // namespace moerec
