// core/gpu/internal/blas.h: cuBLAS on the device, its reference under host execution.
#include <cublas_v2.h>

#include <cstring>

#include "core/gpu/check.h"
#include "core/gpu/internal/blas.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {
namespace {

cublasHandle_t BlasOf(const GpuResources* gpu) { return static_cast<cublasHandle_t>(gpu->blas()); }

cublasComputeType_t ComputeOf(const GpuResources* gpu) {
  return gpu->gemm_math() == GemmMath::kBf16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F;
}

// The shape of a row-major c = op(a) op(b): m x n with inner dimension k.
struct RowMajorShape {
  int64_t m, n, k;
};

RowMajorShape ShapeOf(bool trans_a, bool trans_b, ConstMatView a, ConstMatView b, MatView c) {
  const int64_t m = trans_a ? a.cols : a.rows;
  const int64_t k = trans_a ? a.rows : a.cols;
  const int64_t kb = trans_b ? b.cols : b.rows;
  const int64_t n = trans_b ? b.rows : b.cols;
  CHECK_EQ(k, kb) << "GEMM inner dimensions differ";
  CHECK_EQ(c.rows, m) << "GEMM output rows";
  CHECK_EQ(c.cols, n) << "GEMM output cols";
  return {m, n, k};
}

// A zero-sized product still scales c by beta, as cuBLAS does for k == 0.
void ScaleOnly(GpuResources* gpu, float beta, MatView c) {
  ForEach(gpu, c.rows * c.cols, [=] __host__ __device__(int64_t i) {
    float* p = c.data + (i / c.cols) * c.ld + i % c.cols;
    *p = beta == 0.0f ? 0.0f : beta * *p;
  });
}

}  // namespace

float RoundToBf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  if ((bits & 0x7f800000u) == 0x7f800000u) return x;  // inf and NaN stay
  const uint32_t lsb = (bits >> 16) & 1u;
  bits += 0x7fffu + lsb;
  bits &= 0xffff0000u;
  float y;
  std::memcpy(&y, &bits, sizeof(y));
  return y;
}

void HostColumnMajorGemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                         float* c, int64_t ldc, bool bf16) {
  // Column-major: element (i, j) of X with leading dimension ld is X[i + j * ld].
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = 0; i < m; ++i) {
      float acc = 0.0f;
      for (int64_t p = 0; p < k; ++p) {
        float av = trans_a ? a[p + i * lda] : a[i + p * lda];
        float bv = trans_b ? b[j + p * ldb] : b[p + j * ldb];
        if (bf16) {
          av = RoundToBf16(av);
          bv = RoundToBf16(bv);
        }
        acc += av * bv;
      }
      float& out = c[i + j * ldc];
      out = beta == 0.0f ? alpha * acc : alpha * acc + beta * out;
    }
  }
}

void BlasGemmStridedBatched(GpuResources* gpu, bool trans_a, bool trans_b, float alpha,
                            ConstMatView a, int64_t stride_a, ConstMatView b, int64_t stride_b,
                            float beta, MatView c, int64_t stride_c, int64_t batch) {
  const RowMajorShape s = ShapeOf(trans_a, trans_b, a, b, c);
  if (batch <= 0 || s.m == 0 || s.n == 0) return;
  if (s.k == 0) {
    for (int64_t i = 0; i < batch; ++i) {
      MatView ci{c.data + i * stride_c, c.rows, c.cols, c.ld, c.gpu};
      ScaleOnly(gpu, beta, ci);
    }
    return;
  }
  // Column-major view of the row-major problem: C^T (n x m) = op(B)^T (n x k) op(A)^T (k x m).
  gpu->CountLaunch();
  if (gpu->host_execution()) {
    HostAccess access(gpu);
    for (int64_t i = 0; i < batch; ++i) {
      HostColumnMajorGemm(trans_b, trans_a, s.n, s.m, s.k, alpha, b.data + i * stride_b, b.ld,
                          a.data + i * stride_a, a.ld, beta, c.data + i * stride_c, c.ld,
                          gpu->gemm_math() == GemmMath::kBf16);
    }
    return;
  }
  MOEREC_GPU_CHECK(cublasGemmStridedBatchedEx(
      BlasOf(gpu), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(s.n), static_cast<int>(s.m), static_cast<int>(s.k), &alpha, b.data,
      CUDA_R_32F, static_cast<int>(b.ld), stride_b, a.data, CUDA_R_32F, static_cast<int>(a.ld),
      stride_a, &beta, c.data, CUDA_R_32F, static_cast<int>(c.ld), stride_c,
      static_cast<int>(batch), ComputeOf(gpu), CUBLAS_GEMM_DEFAULT));
}

void BlasGemm(GpuResources* gpu, bool trans_a, bool trans_b, float alpha, ConstMatView a,
              ConstMatView b, float beta, MatView c) {
  const RowMajorShape s = ShapeOf(trans_a, trans_b, a, b, c);
  if (s.m == 0 || s.n == 0) return;
  if (s.k == 0) {
    ScaleOnly(gpu, beta, c);
    return;
  }
  gpu->CountLaunch();
  if (gpu->host_execution()) {
    HostAccess access(gpu);
    HostColumnMajorGemm(trans_b, trans_a, s.n, s.m, s.k, alpha, b.data, b.ld, a.data, a.ld, beta,
                        c.data, c.ld, gpu->gemm_math() == GemmMath::kBf16);
    return;
  }
  MOEREC_GPU_CHECK(cublasGemmEx(
      BlasOf(gpu), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(s.n), static_cast<int>(s.m), static_cast<int>(s.k), &alpha, b.data,
      CUDA_R_32F, static_cast<int>(b.ld), a.data, CUDA_R_32F, static_cast<int>(a.ld), &beta, c.data,
      CUDA_R_32F, static_cast<int>(c.ld), ComputeOf(gpu), CUBLAS_GEMM_DEFAULT));
}

}  // namespace gpu
}  // namespace moerec
