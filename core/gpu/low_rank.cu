// CUDA twins of core/low_rank.h (its dimension legend and gradient rule hold here): the three
// products are cuBLAS GEMMs, the row passes one body per element (u, pre, du) or per row (the
// dw dot products, summed over the columns in order). c, w, dc and dw are device pointers.
#include "core/gpu/internal/blas.h"
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {

void LowRankAdapterForward(ConstMatView x, ConstMatView a, ConstMatView b, const float* c,
                           const float* w, int64_t w_stride, MatView t, MatView u, MatView pre) {
  CHECK_EQ(x.cols, a.rows);
  CHECK_EQ(a.cols, b.rows);
  CHECK(t.rows == x.rows && t.cols == a.cols);
  CHECK(u.rows == x.rows && u.cols == b.cols);
  CHECK(pre.rows == x.rows && pre.cols == b.cols);
  GpuResources* gpu = CommonDevice(x, a, b, t, u, pre);
  if (x.rows == 0) return;
  BlasGemm(gpu, false, false, 1.0f, x, a, 0.0f, t);
  BlasGemm(gpu, false, false, 1.0f, t, b, 0.0f, u);
  ForEach(gpu, u.rows * u.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / u.cols, j = i % u.cols;
    float* ur = u.data + r * u.ld + j;
    *ur += c[j];
    pre.data[r * pre.ld + j] += w[r * w_stride] * *ur;
  });
}

void LowRankAdapterBackward(ConstMatView x, ConstMatView a, ConstMatView b, const float* w,
                            int64_t w_stride, ConstMatView t, ConstMatView u, ConstMatView dpre,
                            MatView du_scratch, MatView dt_scratch, MatView da, MatView db,
                            float* dc, float* dw, MatView dx) {
  CHECK(dpre.rows == x.rows && dpre.cols == b.cols);
  CHECK(du_scratch.rows == x.rows && du_scratch.cols == b.cols);
  CHECK(dt_scratch.rows == x.rows && dt_scratch.cols == a.cols);
  GpuResources* gpu = CommonDevice(x, a, b, t, u, dpre, du_scratch, dt_scratch, da, db, dx);
  if (x.rows == 0) return;
  // du = w * dpre (row-scaled).
  const MatView du = du_scratch;
  ForEach(gpu, du.rows * du.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / du.cols, j = i % du.cols;
    du.data[r * du.ld + j] = w[r * w_stride] * dpre.data[r * dpre.ld + j];
  });
  // dw += <dpre, u> per row.
  if (dw != nullptr) {
    ForEach(gpu, u.rows, [=] __host__ __device__(int64_t r) {
      const float* g = dpre.data + r * dpre.ld;
      const float* ur = u.data + r * u.ld;
      float dot = 0.0f;
      for (int64_t j = 0; j < u.cols; ++j) dot += g[j] * ur[j];
      dw[r * w_stride] += dot;
    });
  }
  gpu::BiasBackward(du, dc);
  BlasGemm(gpu, true, false, 1.0f, t, du, 1.0f, db);          // dB += t^T du
  BlasGemm(gpu, false, true, 1.0f, du, b, 0.0f, dt_scratch);  // dt = du B^T
  BlasGemm(gpu, true, false, 1.0f, x, dt_scratch, 1.0f, da);  // dA += x^T dt
  if (dx.data != nullptr) BlasGemm(gpu, false, true, 1.0f, dt_scratch, a, 1.0f, dx);
}

}  // namespace gpu
}  // namespace moerec
