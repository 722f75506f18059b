#include "core/low_rank.h"

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/linear.h"
#include "core/parallel.h"

namespace moerec {

void LowRankAdapterForward(ConstMatView x, ConstMatView a, ConstMatView b, const float* c,
                           const float* w, int64_t w_stride, MatView t, MatView u, MatView pre) {
  MOEREC_GPU_DISPATCH(x, gpu::LowRankAdapterForward(x, a, b, c, w, w_stride, t, u, pre));
  CHECK_EQ(x.cols, a.rows);
  CHECK_EQ(a.cols, b.rows);
  CHECK(t.rows == x.rows && t.cols == a.cols);
  CHECK(u.rows == x.rows && u.cols == b.cols);
  CHECK(pre.rows == x.rows && pre.cols == b.cols);
  if (x.rows == 0) return;
  Gemm(false, false, 1.0f, x, a, 0.0f, t);
  Gemm(false, false, 1.0f, t, b, 0.0f, u);
  ParallelFor(x.rows, internal::RowGrain(u.cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* ur = u.row(r);
      float* pr = pre.row(r);
      const float wr = w[r * w_stride];
      for (int64_t j = 0; j < u.cols; ++j) {
        ur[j] += c[j];
        pr[j] += wr * ur[j];
      }
    }
  });
}

void LowRankAdapterBackward(ConstMatView x, ConstMatView a, ConstMatView b, const float* w,
                            int64_t w_stride, ConstMatView t, ConstMatView u, ConstMatView dpre,
                            MatView du_scratch, MatView dt_scratch, MatView da, MatView db,
                            float* dc, float* dw, MatView dx) {
  MOEREC_GPU_DISPATCH(x, gpu::LowRankAdapterBackward(x, a, b, w, w_stride, t, u, dpre, du_scratch,
                                                     dt_scratch, da, db, dc, dw, dx));
  CHECK(dpre.rows == x.rows && dpre.cols == b.cols);
  CHECK(du_scratch.rows == x.rows && du_scratch.cols == b.cols);
  CHECK(dt_scratch.rows == x.rows && dt_scratch.cols == a.cols);
  if (x.rows == 0) return;
  // du = w * dpre (row-scaled); dw += <dpre, u> per row.
  ParallelFor(x.rows, internal::RowGrain(u.cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = dpre.row(r);
      const float* ur = u.row(r);
      float* d = du_scratch.row(r);
      const float wr = w[r * w_stride];
      float dot = 0.0f;
      for (int64_t j = 0; j < u.cols; ++j) {
        d[j] = wr * g[j];
        dot += g[j] * ur[j];
      }
      if (dw != nullptr) dw[r * w_stride] += dot;
    }
  });
  const ConstMatView du = du_scratch;
  BiasBackward(du, dc);
  Gemm(true, false, 1.0f, t, du, 1.0f, db);                                  // dB += t^T du
  Gemm(false, true, 1.0f, du, b, 0.0f, dt_scratch);                          // dt = du B^T
  Gemm(true, false, 1.0f, x, dt_scratch, 1.0f, da);                          // dA += x^T dt
  if (dx.data != nullptr) Gemm(false, true, 1.0f, dt_scratch, a, 1.0f, dx);  // dx += dt A^T
}

}  // namespace moerec
