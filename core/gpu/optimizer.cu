// CUDA twin of DenseOptimizer's update (core/optimizer.h): one parameter's update on the device
// that holds its value, gradient and state, one body per element, with exactly the CPU
// formulas (core/internal/dense_update.h, which the CPU update uses too); only the compiler's
// fused multiply-adds differ.
//
// Dimension legend: n elements of the parameter.  value, grad, m, v: (n) on `device`.
#include <cmath>

#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"
#include "core/internal/dense_update.h"

namespace moerec {
namespace gpu {

void DenseOptimizerUpdate(const DenseOptimizerOptions& options, float step_size, float inv_bc2_sqrt,
                          bool first, int64_t n, float* value, const float* grad, float* m,
                          float* v, GpuResources* device) {
  CHECK(device != nullptr);
  float* p = value;
  const float* g = grad;
  const internal::DenseUpdateScalars u =
      internal::MakeDenseUpdateScalars(options, step_size, inv_bc2_sqrt, first);
  switch (options.type) {
    case DenseOptimizerType::kAdam:
    case DenseOptimizerType::kAdamW:
      ForEach(device, n,
              [=] __host__ __device__(int64_t i) { internal::AdamElement(u, i, p, g, m, v); });
      break;
    case DenseOptimizerType::kSgd:
      ForEach(device, n,
              [=] __host__ __device__(int64_t i) { internal::SgdElement(u, i, p, g, m); });
      break;
    case DenseOptimizerType::kAdagrad:
      ForEach(device, n,
              [=] __host__ __device__(int64_t i) { internal::AdagradElement(u, i, p, g, m); });
      break;
  }
}

}  // namespace gpu
}  // namespace moerec
