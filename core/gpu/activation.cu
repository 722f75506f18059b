// CUDA twins of core/activation.h. Dimension legend: B rows, C columns; every view (B, C).
// Elementwise ops run one body per element. The ops that also reduce over rows (db of
// BiasReluBackward, dalpha of PreluBackward) run one body per column that walks the rows in
// order, writing that column of dx and summing its gradient: deterministic, and neighbouring
// bodies touch neighbouring floats.
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"
#include "core/internal/dropout_mask.h"

namespace moerec {
namespace gpu {
namespace {

void CheckSameShape(ConstMatView a, ConstMatView b) {
  CHECK(a.rows == b.rows && a.cols == b.cols)
      << "shape (" << a.rows << ", " << a.cols << ") vs (" << b.rows << ", " << b.cols << ")";
}

}  // namespace

void ReluForward(ConstMatView x, MatView y) {
  CheckSameShape(x, y);
  ForEach(CommonDevice(x, y), x.rows * x.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / x.cols, j = i % x.cols;
    const float v = x.data[r * x.ld + j];
    y.data[r * y.ld + j] = v > 0.0f ? v : 0.0f;
  });
}

void ReluBackward(ConstMatView y, ConstMatView dy, MatView dx) {
  CheckSameShape(y, dy);
  CheckSameShape(y, dx);
  ForEach(CommonDevice(y, dy, dx), y.rows * y.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / y.cols, j = i % y.cols;
    dx.data[r * dx.ld + j] = y.data[r * y.ld + j] > 0.0f ? dy.data[r * dy.ld + j] : 0.0f;
  });
}

void BiasReluForward(const float* b, MatView y) {
  ForEach(CommonDevice(y), y.rows * y.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / y.cols, j = i % y.cols;
    float* p = y.data + r * y.ld + j;
    const float v = b != nullptr ? *p + b[j] : *p;
    *p = v > 0.0f ? v : 0.0f;
  });
}

void BiasReluBackward(ConstMatView y, ConstMatView dy, MatView dx, float* db) {
  CheckSameShape(y, dy);
  CheckSameShape(y, dx);
  if (db == nullptr) {
    gpu::ReluBackward(y, dy, dx);
    return;
  }
  ForEach(CommonDevice(y, dy, dx), y.cols, [=] __host__ __device__(int64_t j) {
    float acc = 0.0f;
    for (int64_t r = 0; r < y.rows; ++r) {
      const float v = y.data[r * y.ld + j] > 0.0f ? dy.data[r * dy.ld + j] : 0.0f;
      dx.data[r * dx.ld + j] = v;
      acc += v;
    }
    db[j] += acc;
  });
}

void PreluForward(ConstMatView x, const float* alpha, MatView y) {
  CheckSameShape(x, y);
  ForEach(CommonDevice(x, y), x.rows * x.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / x.cols, j = i % x.cols;
    const float v = x.data[r * x.ld + j];
    y.data[r * y.ld + j] = v > 0.0f ? v : alpha[j] * v;
  });
}

void PreluBackward(ConstMatView x, const float* alpha, ConstMatView dy, MatView dx, float* dalpha) {
  CheckSameShape(x, dy);
  CheckSameShape(x, dx);
  ForEach(CommonDevice(x, dy, dx), x.cols, [=] __host__ __device__(int64_t j) {
    const float a = alpha[j];
    float acc = 0.0f;
    for (int64_t r = 0; r < x.rows; ++r) {
      const float v = x.data[r * x.ld + j], g = dy.data[r * dy.ld + j];
      const bool pos = v > 0.0f;
      acc += pos ? 0.0f : g * v;
      dx.data[r * dx.ld + j] = pos ? g : g * a;
    }
    dalpha[j] += acc;
  });
}

void SigmoidForward(ConstMatView x, MatView y) {
  CheckSameShape(x, y);
  ForEach(CommonDevice(x, y), x.rows * x.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / x.cols, j = i % x.cols;
    y.data[r * y.ld + j] = Sigmoid(x.data[r * x.ld + j]);
  });
}

void SigmoidBackward(ConstMatView y, ConstMatView dy, MatView dx) {
  CheckSameShape(y, dy);
  CheckSameShape(y, dx);
  ForEach(CommonDevice(y, dy, dx), y.rows * y.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / y.cols, j = i % y.cols;
    const float v = y.data[r * y.ld + j];
    dx.data[r * dx.ld + j] = dy.data[r * dy.ld + j] * v * (1.0f - v);
  });
}

void DropoutForward(ConstMatView x, float p, uint64_t seed, MatView mask, MatView y) {
  CHECK(p >= 0.0f && p < 1.0f) << "dropout rate must be in [0, 1), got " << p;
  CheckSameShape(x, y);
  CheckSameShape(x, mask);
  const float scale = 1.0f / (1.0f - p);
  // The CPU kernel's mask function, so the two masks are bit-identical (p = 0 keeps every
  // element with scale 1, as the CPU kernel's shortcut does).
  const uint64_t threshold = internal::DropoutThreshold(p);
  ForEach(CommonDevice(x, mask, y), x.rows * x.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / x.cols, j = i % x.cols;
    const float keep =
        internal::DropoutMaskValue(internal::DropoutRowKey(seed, r), j, threshold, scale);
    mask.data[r * mask.ld + j] = keep;
    y.data[r * y.ld + j] = x.data[r * x.ld + j] * keep;
  });
}

void DropoutBackward(ConstMatView mask, ConstMatView dy, MatView dx) {
  CheckSameShape(mask, dy);
  CheckSameShape(mask, dx);
  ForEach(CommonDevice(mask, dy, dx), mask.rows * mask.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / mask.cols, j = i % mask.cols;
    dx.data[r * dx.ld + j] = dy.data[r * dy.ld + j] * mask.data[r * mask.ld + j];
  });
}

}  // namespace gpu
}  // namespace moerec
