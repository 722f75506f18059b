#include "experts/layers/internal/bias_act.h"

#include <algorithm>

#include "core/parallel.h"

namespace moerec::internal {
namespace {

// About this many elements per parallel chunk, so a fork pays for itself.
constexpr int64_t kChunkElements = 16384;

int64_t RowGrain(int64_t cols) {
  return std::max<int64_t>(1, kChunkElements / std::max<int64_t>(cols, 1));
}
int64_t ColGrain(int64_t rows) {
  return std::max<int64_t>(16, kChunkElements / std::max<int64_t>(rows, 1));
}

}  // namespace

void BiasReluInPlace(const float* b, MatView y) {
  const int64_t c = y.cols;
  ParallelFor(y.rows, RowGrain(c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* __restrict yr = y.row(r);
      if (b != nullptr) {
        for (int64_t j = 0; j < c; ++j) yr[j] = std::max(yr[j] + b[j], 0.0f);
      } else {
        for (int64_t j = 0; j < c; ++j) yr[j] = std::max(yr[j], 0.0f);
      }
    }
  });
}

void BiasInPlace(const float* b, MatView y) {
  const int64_t c = y.cols;
  ParallelFor(y.rows, RowGrain(c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* __restrict yr = y.row(r);
      for (int64_t j = 0; j < c; ++j) yr[j] += b[j];
    }
  });
}

void ReluBackwardBias(ConstMatView y, ConstMatView dy, MatView d, float* db) {
  CHECK_EQ(y.rows, d.rows);
  CHECK_EQ(y.cols, d.cols);
  CHECK_EQ(dy.rows, d.rows);
  CHECK_EQ(dy.cols, d.cols);
  ParallelFor(d.cols, ColGrain(d.rows), [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    float* __restrict acc = db == nullptr ? nullptr : db + c0;
    for (int64_t r = 0; r < d.rows; ++r) {
      const float* yr = y.row(r) + c0;
      const float* gr = dy.row(r) + c0;
      float* dr = d.row(r) + c0;
      if (acc != nullptr) {
        for (int64_t j = 0; j < n; ++j) {
          const float v = yr[j] > 0.0f ? gr[j] : 0.0f;
          dr[j] = v;
          acc[j] += v;
        }
      } else {
        for (int64_t j = 0; j < n; ++j) dr[j] = yr[j] > 0.0f ? gr[j] : 0.0f;
      }
    }
  });
}

void ColumnSumAdd(ConstMatView d, float* db) {
  ParallelFor(d.cols, ColGrain(d.rows), [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    float* __restrict acc = db + c0;
    for (int64_t r = 0; r < d.rows; ++r) {
      const float* __restrict dr = d.row(r) + c0;
      for (int64_t j = 0; j < n; ++j) acc[j] += dr[j];
    }
  });
}

}  // namespace moerec::internal
