// CUDA twin of DenseOptimizer's update (core/optimizer.h): one parameter's update on the device
// that holds its value, gradient and state, one body per element, with exactly the CPU
// formulas (DenseOptimizer::UpdateRange); only the compiler's fused multiply-adds differ.
//
// Dimension legend: n elements of the parameter.  value, grad, m, v: (n) on `device`.
#include <cmath>

#include "core/gpu/launch.cuh"
#include "core/gpu/kernels.h"

namespace moerec {
namespace gpu {

void DenseOptimizerUpdate(const DenseOptimizerOptions& options, float step_size, float inv_bc2_sqrt,
                          bool first, int64_t n, float* value, const float* grad, float* m,
                          float* v, GpuResources* device) {
  CHECK(device != nullptr);
  float* p = value;
  const float* g = grad;
  const float lr = options.learning_rate;
  const float wd = options.weight_decay;
  switch (options.type) {
    case DenseOptimizerType::kAdam:
    case DenseOptimizerType::kAdamW: {
      // AdamW decays p before its update; Adam adds wd * p to g.
      const bool decoupled = options.type == DenseOptimizerType::kAdamW;
      const float l2 = decoupled ? 0.0f : wd;
      const float decay = decoupled ? static_cast<float>(1.0 - static_cast<double>(lr) * wd) : 1.0f;
      const float one_minus_b1 = 1.0f - options.beta1;
      const float b2 = options.beta2;
      const float one_minus_b2 = 1.0f - b2;
      const float eps = options.epsilon;
      ForEach(device, n, [=] __host__ __device__(int64_t i) {
        const float pi = p[i] * decay;
        const float gi = l2 != 0.0f ? g[i] + l2 * pi : g[i];
        const float mi = m[i] + one_minus_b1 * (gi - m[i]);  // torch's lerp
        const float vi = v[i] * b2 + one_minus_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps);
      });
      break;
    }
    case DenseOptimizerType::kSgd: {
      const float mu = options.momentum;
      ForEach(device, n, [=] __host__ __device__(int64_t i) {
        if (mu == 0.0f) {
          p[i] -= lr * (g[i] + wd * p[i]);
        } else if (first) {
          const float gi = g[i] + wd * p[i];
          m[i] = gi;
          p[i] -= lr * gi;
        } else {
          const float buf = mu * m[i] + (g[i] + wd * p[i]);
          m[i] = buf;
          p[i] -= lr * buf;
        }
      });
      break;
    }
    case DenseOptimizerType::kAdagrad: {
      const float eps = options.epsilon;
      ForEach(device, n, [=] __host__ __device__(int64_t i) {
        const float gi = g[i] + wd * p[i];
        const float sum = m[i] + gi * gi;
        m[i] = sum;
        p[i] -= lr * gi / (sqrtf(sum) + eps);
      });
      break;
    }
  }
}

}  // namespace gpu
}  // namespace moerec
