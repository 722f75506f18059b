#include "core/senet.h"

#include <initializer_list>
#include <vector>

#include "core/activation.h"
#include "core/internal/cache_tensor.h"
#include "core/internal/field_shapes.h"
#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/linear.h"

namespace moerec {

using internal::ForEachRow;
using internal::LaneSum;

namespace {

// k for v (B, S*k) with the weights' S and S_r checked.

// dv = dout * a + dz / k (+ beta * dv) over one row.
void SenetInputGradientRow(int64_t s, int64_t k, const float* __restrict g,
                           const float* __restrict a, const float* __restrict dz, float inv_k,
                           float beta, float* __restrict d) {
  for (int64_t f = 0; f < s; ++f) {
    const float af = a[f], zf = dz[f] * inv_k;
    const float* __restrict gf = g + f * k;
    float* __restrict df = d + f * k;
    if (beta == 0.0f) {
      for (int64_t c = 0; c < k; ++c) df[c] = gf[c] * af + zf;
    } else {
      for (int64_t c = 0; c < k; ++c) df[c] = gf[c] * af + zf + beta * df[c];
    }
  }
}

}  // namespace

void SenetForward(ConstMatView v, int num_fields, ConstMatView w1, ConstMatView w2, MatView out,
                  SenetCache* cache) {
  MOEREC_GPU_DISPATCH(v, gpu::SenetForward(v, num_fields, w1, w2, out, cache));
  const int64_t k = internal::CheckSenetShapes(v, num_fields, w1, w2);
  const int64_t s = num_fields, rows = v.rows;
  CHECK(out.rows == rows && out.cols == v.cols);
  internal::MoveToHost({&cache->z, &cache->hidden, &cache->weight});
  cache->z.Resize({rows, s});
  cache->hidden.Resize({rows, w1.cols});
  cache->weight.Resize({rows, s});
  const float inv_k = 1.0f / static_cast<float>(k);
  const MatView z = cache->z.view(), hidden = cache->hidden.view(), a = cache->weight.view();
  ForEachRow(rows, v.cols, [&](int64_t r) {
    const float* x = v.row(r);
    float* zr = z.row(r);
    for (int64_t f = 0; f < s; ++f) {
      const float* xf = x + f * k;
      zr[f] = LaneSum(k, [&](int64_t c) { return xf[c]; }) * inv_k;
    }
  });
  Gemm(false, false, 1.0f, z, w1, 0.0f, hidden);
  ReluForward(hidden, hidden);
  Gemm(false, false, 1.0f, hidden, w2, 0.0f, a);
  ReluForward(a, a);
  ForEachRow(rows, v.cols, [&](int64_t r) {
    const float* x = v.row(r);
    const float* ar = a.row(r);
    float* o = out.row(r);
    for (int64_t f = 0; f < s; ++f) {
      const float af = ar[f];
      for (int64_t c = 0; c < k; ++c) o[f * k + c] = af * x[f * k + c];
    }
  });
}

void SenetBackward(ConstMatView v, ConstMatView w1, ConstMatView w2, const SenetCache& cache,
                   ConstMatView dout, MatView dv, float dv_beta, MatView dw1, MatView dw2) {
  MOEREC_GPU_DISPATCH(v, gpu::SenetBackward(v, w1, w2, cache, dout, dv, dv_beta, dw1, dw2));
  const int64_t s = w1.rows;
  const int64_t k = internal::CheckSenetShapes(v, s, w1, w2);
  const int64_t rows = v.rows;
  CHECK(dout.rows == rows && dout.cols == v.cols);
  CHECK(dv.rows == rows && dv.cols == v.cols);
  CHECK(dw1.rows == w1.rows && dw1.cols == w1.cols);
  CHECK(dw2.rows == w2.rows && dw2.cols == w2.cols);
  CHECK(cache.weight.rows() == rows && cache.weight.cols() == s && cache.hidden.cols() == w1.cols)
      << "SENET cache is stale";
  CHECK(!cache.weight.on_gpu()) << "SENET cache is on a device, the views on the host";
  internal::MoveToHost({&cache.dz, &cache.dhidden, &cache.dweight});
  cache.dz.Resize({rows, s});
  cache.dhidden.Resize({rows, w1.cols});
  cache.dweight.Resize({rows, s});
  const ConstMatView z = cache.z.view(), hidden = cache.hidden.view(), a = cache.weight.view();
  const MatView dz = cache.dz.view(), dhidden = cache.dhidden.view(), da = cache.dweight.view();
  ForEachRow(rows, v.cols, [&](int64_t r) {
    const float* x = v.row(r);
    const float* g = dout.row(r);
    float* dar = da.row(r);
    for (int64_t f = 0; f < s; ++f) {
      const float* xf = x + f * k;
      const float* gf = g + f * k;
      dar[f] = LaneSum(k, [&](int64_t c) { return gf[c] * xf[c]; });
    }
  });
  ReluBackward(a, da, da);
  Gemm(true, false, 1.0f, hidden, da, 1.0f, dw2);
  Gemm(false, true, 1.0f, da, w2, 0.0f, dhidden);
  ReluBackward(hidden, dhidden, dhidden);
  Gemm(true, false, 1.0f, z, dhidden, 1.0f, dw1);
  Gemm(false, true, 1.0f, dhidden, w1, 0.0f, dz);
  const float inv_k = 1.0f / static_cast<float>(k);
  ForEachRow(rows, v.cols, [&](int64_t r) {
    SenetInputGradientRow(s, k, dout.row(r), a.row(r), dz.row(r), inv_k, dv_beta, dv.row(r));
  });
}

}  // namespace moerec
