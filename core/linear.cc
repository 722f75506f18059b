#include "core/linear.h"

#include <cblas.h>

#include <cstring>

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"

namespace moerec {

void Gemm(bool trans_a, bool trans_b, float alpha, ConstMatView a, ConstMatView b, float beta,
          MatView c) {
  MOEREC_GPU_DISPATCH(c, gpu::Gemm(trans_a, trans_b, alpha, a, b, beta, c));
  const int64_t m = trans_a ? a.cols : a.rows;
  const int64_t k = trans_a ? a.rows : a.cols;
  const int64_t kb = trans_b ? b.cols : b.rows;
  const int64_t n = trans_b ? b.rows : b.cols;
  CHECK_EQ(k, kb) << "gemm inner dimensions differ";
  CHECK_EQ(c.rows, m);
  CHECK_EQ(c.cols, n);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t r = 0; r < m; ++r) {
      float* row = c.row(r);
      for (int64_t j = 0; j < n; ++j) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a.data, static_cast<int>(a.ld), b.data,
              static_cast<int>(b.ld), beta, c.data, static_cast<int>(c.ld));
}

void BiasForward(const float* b, MatView y) {
  MOEREC_GPU_DISPATCH(y, gpu::BiasForward(b, y));
  internal::ForEachRow(y.rows, y.cols, [&](int64_t r) {
    float* row = y.row(r);
    for (int64_t j = 0; j < y.cols; ++j) row[j] += b[j];
  });
}

// A column sum only loads; on 2 cores a second thread pays from about 1M elements on.
constexpr int64_t kBiasBackwardChunk = 8 * internal::kMinParallelElements;

void BiasBackward(ConstMatView dy, float* db) {
  MOEREC_GPU_DISPATCH(dy, gpu::BiasBackward(dy, db));
  // Column sums over fixed row blocks: the same bits for any thread count.
  float* const out[1] = {db};
  internal::ReduceRows(
      dy.rows, dy.cols, dy.cols, out,
      [&](int64_t r, float* const* acc) {
        const float* __restrict row = dy.row(r);
        float* __restrict a = acc[0];
        for (int64_t j = 0; j < dy.cols; ++j) a[j] += row[j];
      },
      /*min_chunk_elements=*/kBiasBackwardChunk);
}

void BroadcastRows(const float* b, MatView y) {
  MOEREC_GPU_DISPATCH(y, gpu::BroadcastRows(b, y));
  internal::ForEachRow(y.rows, y.cols,
                       [&](int64_t r) { std::memcpy(y.row(r), b, y.cols * sizeof(float)); });
}

void LinearForward(ConstMatView x, ConstMatView w, const float* b, MatView y) {
  CHECK_EQ(x.cols, w.rows);
  CHECK_EQ(y.cols, w.cols);
  if (b != nullptr) {
    // Seed y with the bias rows and let sgemm accumulate: one pass over y instead of two.
    BroadcastRows(b, y);
    Gemm(false, false, 1.0f, x, w, 1.0f, y);
  } else {
    Gemm(false, false, 1.0f, x, w, 0.0f, y);
  }
}

void LinearBackward(ConstMatView x, ConstMatView w, ConstMatView dy, MatView dw, float* db,
                    MatView dx, float dx_beta) {
  Gemm(true, false, 1.0f, x, dy, 1.0f, dw);
  if (db != nullptr) BiasBackward(dy, db);
  if (dx.data != nullptr) Gemm(false, true, 1.0f, dy, w, dx_beta, dx);
}

void CopyMat(ConstMatView src, MatView dst) {
  MOEREC_GPU_DISPATCH(dst, gpu::CopyMat(src, dst));
  CHECK_EQ(src.rows, dst.rows);
  CHECK_EQ(src.cols, dst.cols);
  internal::ForEachRow(src.rows, src.cols, [&](int64_t r) {
    std::memcpy(dst.row(r), src.row(r), src.cols * sizeof(float));
  });
}

void AddMat(ConstMatView src, MatView dst) {
  MOEREC_GPU_DISPATCH(dst, gpu::AddMat(src, dst));
  CHECK_EQ(src.rows, dst.rows);
  CHECK_EQ(src.cols, dst.cols);
  internal::ForEachRow(src.rows, src.cols, [&](int64_t r) {
    const float* s = src.row(r);
    float* d = dst.row(r);
    for (int64_t j = 0; j < src.cols; ++j) d[j] += s[j];
  });
}

void ScaleMat(float beta, MatView y) {
  MOEREC_GPU_DISPATCH(y, gpu::ScaleMat(beta, y));
  if (beta == 1.0f) return;
  internal::ForEachRow(y.rows, y.cols, [&](int64_t r) {
    float* row = y.row(r);
    if (beta == 0.0f) {
      std::memset(row, 0, y.cols * sizeof(float));
    } else {
      for (int64_t j = 0; j < y.cols; ++j) row[j] *= beta;
    }
  });
}

}  // namespace moerec
