#include "core/product.h"

#include "core/parallel.h"

namespace moerec {
namespace {

constexpr int64_t kGrain = 1 << 14;

}  // namespace

void ProductForward(const float* a, const float* b, int64_t n, float* out) {
  ParallelFor(n, kGrain, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) out[i] = a[i] * b[i];
  });
}

void ProductBackward(const float* a, const float* b, const float* dout, int64_t n, float* da,
                     float* db) {
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
