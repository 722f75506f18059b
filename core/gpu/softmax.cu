// CUDA twins of core/softmax.h. Dimension legend: B rows, K classes; x, y, dy, dx: (B, K).
// One body per row, its K classes in order (K is an expert or candidate count: small), so
// every row is computed the same way on the device and under host execution.
#include <cmath>

#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {

void SoftmaxForward(ConstMatView x, MatView y) {
  CHECK(x.rows == y.rows && x.cols == y.cols);
  const int64_t k = x.cols;
  if (k == 0) return;
  ForEach(CommonDevice(x, y), x.rows, [=] __host__ __device__(int64_t r) {
    const float* xr = x.data + r * x.ld;
    float* yr = y.data + r * y.ld;
    float mx = xr[0];
    for (int64_t i = 1; i < k; ++i) mx = fmaxf(mx, xr[i]);
    float sum = 0.0f;
    for (int64_t i = 0; i < k; ++i) {
      const float e = expf(xr[i] - mx);
      yr[i] = e;  // y may alias x: x_i is not read again
      sum += e;
    }
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < k; ++i) yr[i] *= inv;
  });
}

void SoftmaxBackward(ConstMatView y, ConstMatView dy, MatView dx) {
  CHECK(y.rows == dy.rows && y.cols == dy.cols && y.rows == dx.rows && y.cols == dx.cols);
  const int64_t k = y.cols;
  ForEach(CommonDevice(y, dy, dx), y.rows, [=] __host__ __device__(int64_t r) {
    const float* yr = y.data + r * y.ld;
    const float* g = dy.data + r * dy.ld;
    float* d = dx.data + r * dx.ld;
    float dot = 0.0f;
    for (int64_t i = 0; i < k; ++i) dot += g[i] * yr[i];
    for (int64_t i = 0; i < k; ++i) d[i] = yr[i] * (g[i] - dot);  // dx may alias dy
  });
}

}  // namespace gpu
}  // namespace moerec
