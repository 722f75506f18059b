#include "core/softmax.h"

#include <cmath>

#include "core/parallel.h"

namespace moerec {

void SoftmaxForward(ConstMatView x, MatView y) {
  ParallelFor(x.rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x.row(r);
      float* yr = y.row(r);
      float mx = xr[0];
      for (int64_t k = 1; k < x.cols; ++k) mx = std::max(mx, xr[k]);
      float sum = 0.0f;
      for (int64_t k = 0; k < x.cols; ++k) {
        yr[k] = std::exp(xr[k] - mx);
        sum += yr[k];
      }
      const float inv = 1.0f / sum;
      for (int64_t k = 0; k < x.cols; ++k) yr[k] *= inv;
    }
  });
}

void SoftmaxBackward(ConstMatView y, ConstMatView dy, MatView dx) {
  ParallelFor(y.rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* yr = y.row(r);
      const float* g = dy.row(r);
      float* d = dx.row(r);
      float dot = 0.0f;
      for (int64_t k = 0; k < y.cols; ++k) dot += g[k] * yr[k];
      for (int64_t k = 0; k < y.cols; ++k) d[k] = yr[k] * (g[k] - dot);
    }
  });
}

}  // namespace moerec
