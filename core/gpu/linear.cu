// CUDA twins of core/linear.h. LinearForward / LinearBackward are compositions of the others
// and dispatch through them.
#include "core/gpu/internal/blas.h"
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {

void Gemm(bool trans_a, bool trans_b, float alpha, ConstMatView a, ConstMatView b, float beta,
          MatView c) {
  BlasGemm(CommonDevice(a, b, c), trans_a, trans_b, alpha, a, b, beta, c);
}

void BiasForward(const float* b, MatView y) {
  ForEach(CommonDevice(y), y.rows * y.cols, [=] __host__ __device__(int64_t i) {
    const int64_t j = i % y.cols;
    y.data[(i / y.cols) * y.ld + j] += b[j];
  });
}

void BiasBackward(ConstMatView dy, float* db) {
  // One thread per column, rows in order: neighbouring threads read neighbouring floats.
  ForEach(CommonDevice(dy), dy.cols, [=] __host__ __device__(int64_t j) {
    float acc = 0.0f;
    for (int64_t r = 0; r < dy.rows; ++r) acc += dy.data[r * dy.ld + j];
    db[j] += acc;
  });
}

void BroadcastRows(const float* b, MatView y) {
  ForEach(CommonDevice(y), y.rows * y.cols, [=] __host__ __device__(int64_t i) {
    const int64_t j = i % y.cols;
    y.data[(i / y.cols) * y.ld + j] = b[j];
  });
}

void CopyMat(ConstMatView src, MatView dst) {
  CHECK_EQ(src.rows, dst.rows);
  CHECK_EQ(src.cols, dst.cols);
  ForEach(CommonDevice(src, dst), src.rows * src.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / src.cols, j = i % src.cols;
    dst.data[r * dst.ld + j] = src.data[r * src.ld + j];
  });
}

void AddMat(ConstMatView src, MatView dst) {
  CHECK_EQ(src.rows, dst.rows);
  CHECK_EQ(src.cols, dst.cols);
  ForEach(CommonDevice(src, dst), src.rows * src.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / src.cols, j = i % src.cols;
    dst.data[r * dst.ld + j] += src.data[r * src.ld + j];
  });
}

void ScaleMat(float beta, MatView y) {
  if (beta == 1.0f) return;
  ForEach(CommonDevice(y), y.rows * y.cols, [=] __host__ __device__(int64_t i) {
    float* p = y.data + (i / y.cols) * y.ld + i % y.cols;
    *p = beta == 0.0f ? 0.0f : beta * *p;
  });
}

}  // namespace gpu
}  // namespace moerec
