// CUDA twins of core/product.h: one body per value; a, b, out, dout, da, db: (n) on `device`.
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {

void ProductForward(const float* a, const float* b, int64_t n, float* out, GpuResources* device) {
  ForEach(device, n, [=] __host__ __device__(int64_t i) { out[i] = a[i] * b[i]; });
}

void ProductBackward(const float* a, const float* b, const float* dout, int64_t n, float* da,
                     float* db, GpuResources* device) {
  if (da == nullptr && db == nullptr) return;
  ForEach(device, n, [=] __host__ __device__(int64_t i) {
    if (da != nullptr) da[i] += dout[i] * b[i];
    if (db != nullptr) db[i] += dout[i] * a[i];
  });
}

}  // namespace gpu
}  // namespace moerec
