#include "core/activation.h"

#include <cmath>

#include "core/parallel.h"
#include "core/random.h"

namespace moerec {
namespace {

constexpr int64_t kRowGrain = 32;

template <typename Fn>
void ForRows(int64_t rows, Fn fn) {
  ParallelFor(rows, kRowGrain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) fn(r);
  });
}

}  // namespace

void ReluForward(ConstMatView x, MatView y) {
  ForRows(x.rows, [&](int64_t r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    for (int64_t j = 0; j < x.cols; ++j) yr[j] = xr[j] > 0.0f ? xr[j] : 0.0f;
  });
}

void ReluBackward(ConstMatView y, ConstMatView dy, MatView dx) {
  ForRows(y.rows, [&](int64_t r) {
    const float* yr = y.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    for (int64_t j = 0; j < y.cols; ++j) d[j] = yr[j] > 0.0f ? g[j] : 0.0f;
  });
}

void PreluForward(ConstMatView x, const float* alpha, MatView y) {
  ForRows(x.rows, [&](int64_t r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    for (int64_t j = 0; j < x.cols; ++j) yr[j] = xr[j] > 0.0f ? xr[j] : alpha[j] * xr[j];
  });
}

void PreluBackward(ConstMatView x, const float* alpha, ConstMatView dy, MatView dx,
                   float* dalpha) {
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* xr = x.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    for (int64_t j = 0; j < x.cols; ++j) {
      if (xr[j] > 0.0f) {
        d[j] = g[j];
      } else {
        dalpha[j] += g[j] * xr[j];
        d[j] = g[j] * alpha[j];
      }
    }
  }
}

void SigmoidForward(ConstMatView x, MatView y) {
  ForRows(x.rows, [&](int64_t r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    for (int64_t j = 0; j < x.cols; ++j) yr[j] = 1.0f / (1.0f + std::exp(-xr[j]));
  });
}

void SigmoidBackward(ConstMatView y, ConstMatView dy, MatView dx) {
  ForRows(y.rows, [&](int64_t r) {
    const float* yr = y.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    for (int64_t j = 0; j < y.cols; ++j) d[j] = g[j] * yr[j] * (1.0f - yr[j]);
  });
}

void DropoutForward(ConstMatView x, float p, uint64_t seed, MatView mask, MatView y) {
  CHECK(p >= 0.0f && p < 1.0f) << "dropout rate must be in [0, 1), got " << p;
  const float scale = 1.0f / (1.0f - p);
  const uint64_t threshold = static_cast<uint64_t>(static_cast<double>(p) * 18446744073709551616.0);
  ForRows(x.rows, [&](int64_t r) {
    const float* xr = x.row(r);
    float* m = mask.row(r);
    float* yr = y.row(r);
    const uint64_t row_key = HashCombine(seed, static_cast<uint64_t>(r));
    for (int64_t j = 0; j < x.cols; ++j) {
      const bool keep = p == 0.0f || HashCombine(row_key, static_cast<uint64_t>(j)) >= threshold;
      m[j] = keep ? scale : 0.0f;
      yr[j] = xr[j] * m[j];
    }
  });
}

void DropoutBackward(ConstMatView mask, ConstMatView dy, MatView dx) {
  ForRows(mask.rows, [&](int64_t r) {
    const float* m = mask.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    for (int64_t j = 0; j < mask.cols; ++j) d[j] = g[j] * m[j];
  });
}

}  // namespace moerec
