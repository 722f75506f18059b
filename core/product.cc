#include "core/product.h"

#include "core/internal/gpu_dispatch.h"
#include "core/parallel.h"

namespace moerec {
namespace {

constexpr int64_t kGrain = 1 << 14;

}  // namespace

void ProductForward(const float* a, const float* b, int64_t n, float* out, GpuResources* device) {
#if MOEREC_HAVE_CUDA
  if (device != nullptr) return gpu::ProductForward(a, b, n, out, device);
#endif
  CHECK(device == nullptr) << "a device array in a build without CUDA";
  ParallelFor(n, kGrain, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) out[i] = a[i] * b[i];
  });
}

void ProductBackward(const float* a, const float* b, const float* dout, int64_t n, float* da,
                     float* db, GpuResources* device) {
#if MOEREC_HAVE_CUDA
  if (device != nullptr) return gpu::ProductBackward(a, b, dout, n, da, db, device);
#endif
  CHECK(device == nullptr) << "a device array in a build without CUDA";
  ParallelFor(n, kGrain, [&](int64_t i0, int64_t i1) {
    if (da != nullptr) {
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) da[i] += dout[i] * b[i];
    }
    if (db != nullptr) {
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) db[i] += dout[i] * a[i];
    }
  });
}

}  // namespace moerec
