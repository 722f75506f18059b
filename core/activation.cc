#include "core/activation.h"

#include <algorithm>
#include <cmath>

#include "core/internal/dropout_mask.h"
#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"

namespace moerec {

using internal::ForEachRow;

void ReluForward(ConstMatView x, MatView y) {
  MOEREC_GPU_DISPATCH(y, gpu::ReluForward(x, y));
  CHECK(x.rows == y.rows && x.cols == y.cols);
  ForEachRow(x.rows, x.cols, [&](int64_t r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    for (int64_t j = 0; j < x.cols; ++j) yr[j] = xr[j] > 0.0f ? xr[j] : 0.0f;
  });
}

void ReluBackward(ConstMatView y, ConstMatView dy, MatView dx) {
  MOEREC_GPU_DISPATCH(dx, gpu::ReluBackward(y, dy, dx));
  CHECK(y.rows == dy.rows && y.cols == dy.cols && y.rows == dx.rows && y.cols == dx.cols);
  ForEachRow(y.rows, y.cols, [&](int64_t r) {
    const float* yr = y.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    for (int64_t j = 0; j < y.cols; ++j) d[j] = yr[j] > 0.0f ? g[j] : 0.0f;
  });
}

void BiasReluForward(const float* b, MatView y) {
  MOEREC_GPU_DISPATCH(y, gpu::BiasReluForward(b, y));
  if (b == nullptr) {
    ReluForward(y, y);
    return;
  }
  ForEachRow(y.rows, y.cols, [&](int64_t r) {
    float* __restrict yr = y.row(r);
    const float* __restrict bias = b;
    for (int64_t j = 0; j < y.cols; ++j) yr[j] = std::max(yr[j] + bias[j], 0.0f);
  });
}

void BiasReluBackward(ConstMatView y, ConstMatView dy, MatView dx, float* db) {
  MOEREC_GPU_DISPATCH(dx, gpu::BiasReluBackward(y, dy, dx, db));
  if (db == nullptr) {
    ReluBackward(y, dy, dx);
    return;
  }
  CHECK(y.rows == dy.rows && y.cols == dy.cols && y.rows == dx.rows && y.cols == dx.cols);
  // One pass: dx row by row, db over fixed row blocks (deterministic).
  float* const out[1] = {db};
  internal::ReduceRows(y.rows, y.cols, y.cols, out, [&](int64_t r, float* const* acc) {
    const float* yr = y.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    float* __restrict a = acc[0];
    for (int64_t j = 0; j < y.cols; ++j) {
      const float v = yr[j] > 0.0f ? g[j] : 0.0f;
      d[j] = v;
      a[j] += v;
    }
  });
}

void PreluForward(ConstMatView x, const float* alpha, MatView y) {
  MOEREC_GPU_DISPATCH(y, gpu::PreluForward(x, alpha, y));
  CHECK(x.rows == y.rows && x.cols == y.cols);
  ForEachRow(x.rows, x.cols, [&](int64_t r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    for (int64_t j = 0; j < x.cols; ++j) {
      const float v = xr[j], a = alpha[j];  // unconditional loads: the loop vectorises
      yr[j] = v > 0.0f ? v : a * v;
    }
  });
}

void PreluBackward(ConstMatView x, const float* alpha, ConstMatView dy, MatView dx, float* dalpha) {
  MOEREC_GPU_DISPATCH(dx, gpu::PreluBackward(x, alpha, dy, dx, dalpha));
  CHECK(x.rows == dy.rows && x.cols == dy.cols && x.rows == dx.rows && x.cols == dx.cols);
  // One pass over the rows: dx row by row, dalpha over fixed row blocks (deterministic).
  float* const out[1] = {dalpha};
  internal::ReduceRows(x.rows, x.cols, x.cols, out, [&](int64_t r, float* const* acc) {
    const float* xr = x.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    float* __restrict da = acc[0];
    for (int64_t j = 0; j < x.cols; ++j) {
      const float v = xr[j], gj = g[j], a = alpha[j];
      const bool pos = v > 0.0f;
      da[j] += pos ? 0.0f : gj * v;
      d[j] = pos ? gj : gj * a;
    }
  });
}

void SigmoidForward(ConstMatView x, MatView y) {
  MOEREC_GPU_DISPATCH(y, gpu::SigmoidForward(x, y));
  CHECK(x.rows == y.rows && x.cols == y.cols);
  ForEachRow(x.rows, x.cols, [&](int64_t r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    for (int64_t j = 0; j < x.cols; ++j) yr[j] = 1.0f / (1.0f + internal::Exp(-xr[j]));
  });
}

void SigmoidBackward(ConstMatView y, ConstMatView dy, MatView dx) {
  MOEREC_GPU_DISPATCH(dx, gpu::SigmoidBackward(y, dy, dx));
  CHECK(y.rows == dy.rows && y.cols == dy.cols && y.rows == dx.rows && y.cols == dx.cols);
  ForEachRow(y.rows, y.cols, [&](int64_t r) {
    const float* yr = y.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    for (int64_t j = 0; j < y.cols; ++j) d[j] = g[j] * yr[j] * (1.0f - yr[j]);
  });
}

void DropoutForward(ConstMatView x, float p, uint64_t seed, MatView mask, MatView y) {
  MOEREC_GPU_DISPATCH(y, gpu::DropoutForward(x, p, seed, mask, y));
  CHECK(p >= 0.0f && p < 1.0f) << "dropout rate must be in [0, 1), got " << p;
  CHECK(x.rows == y.rows && x.cols == y.cols && x.rows == mask.rows && x.cols == mask.cols);
  const float scale = 1.0f / (1.0f - p);
  // The mask is internal::DropoutMaskValue, one hash per element (the loop vectorises).
  const uint64_t threshold = internal::DropoutThreshold(p);
  ForEachRow(x.rows, x.cols, [&](int64_t r) {
    const float* xr = x.row(r);
    float* m = mask.row(r);
    float* yr = y.row(r);
    if (p == 0.0f) {
      for (int64_t j = 0; j < x.cols; ++j) {
        m[j] = 1.0f;
        yr[j] = xr[j];
      }
      return;
    }
    const uint64_t row_key = internal::DropoutRowKey(seed, r);
    const uint64_t t = threshold;  // locals, not captured references: the loop vectorises
    const float s = scale;
    for (int64_t j = 0; j < x.cols; ++j) {
      const float keep = internal::DropoutMaskValue(row_key, j, t, s);
      m[j] = keep;
      yr[j] = xr[j] * keep;
    }
  });
}

void DropoutBackward(ConstMatView mask, ConstMatView dy, MatView dx) {
  MOEREC_GPU_DISPATCH(dx, gpu::DropoutBackward(mask, dy, dx));
  CHECK(mask.rows == dy.rows && mask.cols == dy.cols && mask.rows == dx.rows &&
        mask.cols == dx.cols);
  ForEachRow(mask.rows, mask.cols, [&](int64_t r) {
    const float* m = mask.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    for (int64_t j = 0; j < mask.cols; ++j) d[j] = g[j] * m[j];
  });
}

}  // namespace moerec
