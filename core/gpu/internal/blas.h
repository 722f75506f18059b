// The GEMMs of the CUDA kernels, on row-major views (core/tensor.h) of one device: cuBLAS on
// the device (column-major underneath: a row-major C = op(A) op(B) is the column-major
// C^T = op(B)^T op(A)^T, so the operands swap and no data moves), or, under host execution, a
// plain loop with cuBLAS's exact contract (beta == 0 never reads C; bf16 math rounds the
// operands to bf16 and accumulates in fp32), so the argument mapping is tested without a GPU.
// Every call is on the compute stream of the views' device.
#ifndef MOEREC_CORE_GPU_INTERNAL_BLAS_H_
#define MOEREC_CORE_GPU_INTERNAL_BLAS_H_

#include <cstdint>

#include "core/gpu/resources.h"
#include "core/tensor.h"

namespace moerec {
namespace gpu {

// c = alpha * op(a) op(b) + beta * c.
void BlasGemm(GpuResources* gpu, bool trans_a, bool trans_b, float alpha, ConstMatView a,
              ConstMatView b, float beta, MatView c);

// `batch` GEMMs c_i = alpha op(a_i) op(b_i) + beta c_i with a_i = a + i * stride_a (floats), and
// so on; the views give the shape and leading dimension of one problem.
void BlasGemmStridedBatched(GpuResources* gpu, bool trans_a, bool trans_b, float alpha,
                            ConstMatView a, int64_t stride_a, ConstMatView b, int64_t stride_b,
                            float beta, MatView c, int64_t stride_c, int64_t batch);

// The reference of cuBLAS's sgemm (column-major, op codes 'N' / 'T'), used under host
// execution and by tests. bf16 rounds every operand element to bf16 (round to nearest even).
void HostColumnMajorGemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                         const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                         float* c, int64_t ldc, bool bf16);

// x rounded to the nearest bf16 (ties to even), back in fp32.
float RoundToBf16(float x);

}  // namespace gpu
}  // namespace moerec

#endif  // MOEREC_CORE_GPU_INTERNAL_BLAS_H_
