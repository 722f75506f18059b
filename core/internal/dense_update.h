// The per-element rules of the dense optimizers (core/optimizer.h), one definition for the CPU
// update (DenseOptimizer::UpdateRange) and its CUDA twin (core/gpu/optimizer.cu), so that the
// two compute the same formulas in the same order. DenseUpdateScalars holds what one
// parameter's update needs besides its arrays; the element functions read and write element i
// of the value p, gradient g and state m, v.
#ifndef MOEREC_CORE_INTERNAL_DENSE_UPDATE_H_
#define MOEREC_CORE_INTERNAL_DENSE_UPDATE_H_

#include <cmath>
#include <cstdint>

#include "core/internal/host_device.h"
#include "core/optimizer.h"

namespace moerec::internal {

struct DenseUpdateScalars {
  float lr = 0, wd = 0;
  // Adam / AdamW: AdamW decays p before its update (torch: p.mul_(1 - lr * wd)); Adam adds
  // wd * p to g (l2).
  float l2 = 0, decay = 1, one_minus_b1 = 0, b2 = 0, one_minus_b2 = 0, eps = 0;
  float step_size = 0;     // lr / (1 - b1^t)
  float inv_bc2_sqrt = 0;  // 1 / sqrt(1 - b2^t)
  float mu = 0;            // SGD momentum
  bool first = false;      // the parameter's first update (SGD's momentum buffer starts at g)
};

inline DenseUpdateScalars MakeDenseUpdateScalars(const DenseOptimizerOptions& o, float step_size,
                                                 float inv_bc2_sqrt, bool first) {
  DenseUpdateScalars s;
  s.lr = o.learning_rate;
  s.wd = o.weight_decay;
  const bool decoupled = o.type == DenseOptimizerType::kAdamW;
  s.l2 = decoupled ? 0.0f : s.wd;
  s.decay = decoupled ? static_cast<float>(1.0 - static_cast<double>(s.lr) * s.wd) : 1.0f;
  s.one_minus_b1 = 1.0f - o.beta1;
  s.b2 = o.beta2;
  s.one_minus_b2 = 1.0f - o.beta2;
  s.eps = o.epsilon;
  s.step_size = step_size;
  s.inv_bc2_sqrt = inv_bc2_sqrt;
  s.mu = o.momentum;
  s.first = first;
  return s;
}

MOEREC_HOST_DEVICE inline void AdamElement(const DenseUpdateScalars& s, int64_t i, float* p,
                                           const float* g, float* m, float* v) {
  const float pi = p[i] * s.decay;
  const float gi = s.l2 != 0.0f ? g[i] + s.l2 * pi : g[i];
  const float mi = m[i] + s.one_minus_b1 * (gi - m[i]);  // torch's lerp
  const float vi = v[i] * s.b2 + s.one_minus_b2 * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = pi - s.step_size * mi / (sqrtf(vi) * s.inv_bc2_sqrt + s.eps);
}

MOEREC_HOST_DEVICE inline void SgdElement(const DenseUpdateScalars& s, int64_t i, float* p,
                                          const float* g, float* m) {
  if (s.mu == 0.0f) {
    p[i] -= s.lr * (g[i] + s.wd * p[i]);
  } else if (s.first) {
    const float gi = g[i] + s.wd * p[i];
    m[i] = gi;
    p[i] -= s.lr * gi;
  } else {
    const float buf = s.mu * m[i] + (g[i] + s.wd * p[i]);
    m[i] = buf;
    p[i] -= s.lr * buf;
  }
}

MOEREC_HOST_DEVICE inline void AdagradElement(const DenseUpdateScalars& s, int64_t i, float* p,
                                              const float* g, float* m) {
  const float gi = g[i] + s.wd * p[i];
  const float sum = m[i] + gi * gi;
  m[i] = sum;
  p[i] -= s.lr * gi / (sqrtf(sum) + s.eps);
}

}  // namespace moerec::internal

#endif  // MOEREC_CORE_INTERNAL_DENSE_UPDATE_H_
