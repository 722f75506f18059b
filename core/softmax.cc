#include "core/softmax.h"

#include <algorithm>
#include <cmath>

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"

namespace moerec {

using internal::ForEachRow;
using internal::LaneSum;

void SoftmaxForward(ConstMatView x, MatView y) {
  MOEREC_GPU_DISPATCH(y, gpu::SoftmaxForward(x, y));
  CHECK(x.rows == y.rows && x.cols == y.cols);
  const int64_t k = x.cols;
  if (k == 0) return;
  ForEachRow(x.rows, k, [&](int64_t r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    float mx = xr[0];
    for (int64_t i = 1; i < k; ++i) mx = std::max(mx, xr[i]);
    for (int64_t i = 0; i < k; ++i) yr[i] = internal::Exp(xr[i] - mx);
    const float inv = 1.0f / LaneSum(k, [&](int64_t i) { return yr[i]; });
    for (int64_t i = 0; i < k; ++i) yr[i] *= inv;
  });
}

void SoftmaxBackward(ConstMatView y, ConstMatView dy, MatView dx) {
  MOEREC_GPU_DISPATCH(dx, gpu::SoftmaxBackward(y, dy, dx));
  CHECK(y.rows == dy.rows && y.cols == dy.cols && y.rows == dx.rows && y.cols == dx.cols);
  const int64_t k = y.cols;
  ForEachRow(y.rows, k, [&](int64_t r) {
    const float* yr = y.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    const float dot = LaneSum(k, [&](int64_t i) { return g[i] * yr[i]; });
    for (int64_t i = 0; i < k; ++i) d[i] = yr[i] * (g[i] - dot);
  });
}

}  // namespace moerec
