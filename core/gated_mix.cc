#include "core/gated_mix.h"

#include <algorithm>

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"

namespace moerec {
namespace {

float Dot(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) sum += a[j] * b[j];
  return sum;
}

struct Dims {
  int64_t e, h, s;
};

Dims CheckDims(ConstMatView f, ConstMatView g, int num_experts, int64_t z_rows, int64_t z_cols) {
  CHECK_GE(num_experts, 1);
  CHECK_EQ(f.cols % num_experts, 0);
  CHECK_EQ(g.cols % num_experts, 0);
  const Dims d{num_experts, f.cols / num_experts, g.cols / num_experts};
  CHECK_EQ(f.rows, g.rows);
  CHECK_EQ(z_rows, f.rows);
  CHECK_EQ(z_cols, d.s * d.h);
  return d;
}

}  // namespace

void GatedMixForward(ConstMatView f, ConstMatView g, int num_experts, MatView z) {
  MOEREC_GPU_DISPATCH(z, gpu::GatedMixForward(f, g, num_experts, z));
  const Dims d = CheckDims(f, g, num_experts, z.rows, z.cols);
  ParallelFor(f.rows, internal::RowGrain(f.cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* fr = f.row(r);
      const float* gr = g.row(r);
      for (int64_t s = 0; s < d.s; ++s) {
        float* __restrict zs = z.row(r) + s * d.h;
        const float* gs = gr + s * d.e;
        const float g0 = gs[0];
        for (int64_t j = 0; j < d.h; ++j) zs[j] = g0 * fr[j];
        for (int64_t e = 1; e < d.e; ++e) {
          const float ge = gs[e];
          const float* __restrict fe = fr + e * d.h;
          for (int64_t j = 0; j < d.h; ++j) zs[j] += ge * fe[j];
        }
      }
    }
  });
}

void GatedMixBackward(ConstMatView f, ConstMatView g, ConstMatView dz, int num_experts, MatView df,
                      MatView dg) {
  MOEREC_GPU_DISPATCH(df, gpu::GatedMixBackward(f, g, dz, num_experts, df, dg));
  const Dims d = CheckDims(f, g, num_experts, dz.rows, dz.cols);
  CHECK_EQ(df.rows, f.rows);
  CHECK_EQ(df.cols, f.cols);
  CHECK_EQ(dg.rows, g.rows);
  CHECK_EQ(dg.cols, g.cols);
  ParallelFor(f.rows, internal::RowGrain(f.cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* fr = f.row(r);
      const float* gr = g.row(r);
      const float* dzr = dz.row(r);
      float* dgr = dg.row(r);
      for (int64_t e = 0; e < d.e; ++e) {
        const float* fe = fr + e * d.h;
        float* __restrict dfe = df.row(r) + e * d.h;
        const float g0 = gr[e];
        const float* __restrict dz0 = dzr;
        for (int64_t j = 0; j < d.h; ++j) dfe[j] = g0 * dz0[j];
        for (int64_t s = 1; s < d.s; ++s) {
          const float gs = gr[s * d.e + e];
          const float* __restrict dzs = dzr + s * d.h;
          for (int64_t j = 0; j < d.h; ++j) dfe[j] += gs * dzs[j];
        }
        for (int64_t s = 0; s < d.s; ++s) dgr[s * d.e + e] = Dot(dzr + s * d.h, fe, d.h);
      }
    }
  });
}

}  // namespace moerec
