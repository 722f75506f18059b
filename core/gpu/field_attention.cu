// CUDA twin of core/field_attention.h. The projections are GEMMs over all B*S field rows, as on
// the CPU; the per-sample attention products (Q K^T, A V and their gradients) are strided
// batched GEMMs over the samples, one call per head: head h of sample b is the (S, D) block at
// row b*S, column h*D of a (B*S, E) matrix (ld E, stride S*E between samples), and its
// attention weights the (S, S) block at column h*S*S of row b of attn (stride H*S*S). The
// softmax and its backward are one body per (sample, head, query field) row, fields in order.
//
// Dimension legend: B rows, S fields, K_in input width per field, H heads, D width per head,
// E = H*D.  x, dx: (B, S*K_in)  y, dy: (B, S*E)  weights and their gradients: (K_in, E)
//   cache x, dx: (B*S, K_in)  q, k, v, pre, dq, dk, dv, dpre: (B*S, E)  attn, dattn: (B, H*S*S)
#include <cmath>

#include "core/gpu/internal/blas.h"
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"
#include "core/internal/cache_tensor.h"

namespace moerec {
namespace gpu {
namespace {

struct Dims {
  int64_t b, s, kin, h, d, e;
};

void CheckWeight(const char* what, ConstMatView w, const Dims& z) {
  CHECK_EQ(w.rows, z.kin) << what << " rows: the input width per field";
  CHECK_EQ(w.cols, z.e) << what << " cols: heads * head width";
}

void CheckWeights(ConstMatView w_q, ConstMatView w_k, ConstMatView w_v, ConstMatView w_res,
                  const Dims& z) {
  CHECK_EQ(z.e % z.h, 0) << "width " << z.e << " is not " << z.h << " heads";
  CheckWeight("w_q", w_q, z);
  CheckWeight("w_k", w_k, z);
  CheckWeight("w_v", w_v, z);
  if (w_res.data != nullptr) CheckWeight("w_res", w_res, z);
}

// Head h of every sample of a (B*S, E) tensor: one (S, D) problem of the batch.
MatView Head(Tensor* t, const Dims& z, int64_t h) {
  return MatView{t->data() + h * z.d, z.s, z.d, z.e, t->gpu()};
}
ConstMatView Head(const Tensor& t, const Dims& z, int64_t h) {
  return ConstMatView{t.data() + h * z.d, z.s, z.d, z.e, t.gpu()};
}
// Head h's (S, S) attention weights of every sample of a (B, H*S*S) tensor.
MatView Scores(Tensor* t, const Dims& z, int64_t h) {
  return MatView{t->data() + h * z.s * z.s, z.s, z.s, z.s, t->gpu()};
}
ConstMatView Scores(const Tensor& t, const Dims& z, int64_t h) {
  return ConstMatView{t.data() + h * z.s * z.s, z.s, z.s, z.s, t.gpu()};
}

// c_b = alpha op(a_b) op(b_b) for every sample b, a and b of the kinds above.
void PerSample(GpuResources* gpu, bool trans_a, bool trans_b, ConstMatView a, int64_t stride_a,
               ConstMatView b, int64_t stride_b, float beta, MatView c, int64_t stride_c,
               int64_t batch, float alpha = 1.0f) {
  BlasGemmStridedBatched(gpu, trans_a, trans_b, alpha, a, stride_a, b, stride_b, beta, c, stride_c,
                         batch);
}

}  // namespace

void FieldAttentionForward(ConstMatView x, int num_fields, int num_heads, ConstMatView w_q,
                           ConstMatView w_k, ConstMatView w_v, ConstMatView w_res, MatView y,
                           FieldAttentionCache* cache, float scale) {
  GpuResources* gpu = CommonDevice(x, w_q, w_k, w_v, w_res, y);
  CHECK_GE(num_fields, 1);
  CHECK_GE(num_heads, 1);
  CHECK_EQ(x.cols % num_fields, 0) << "width " << x.cols << " is not " << num_fields << " fields";
  const Dims z{x.rows, num_fields, x.cols / num_fields, num_heads, w_q.cols / num_heads, w_q.cols};
  CheckWeights(w_q, w_k, w_v, w_res, z);
  CHECK_EQ(y.rows, x.rows);
  CHECK_EQ(y.cols, z.s * z.e);
  const int64_t n = z.b * z.s, sample = z.s * z.e, scores = z.h * z.s * z.s;
  cache->num_fields = num_fields;
  cache->num_heads = num_heads;
  cache->scale = scale;
  internal::PlaceTensor(&cache->x, {n, z.kin}, gpu);
  // A row of x is S consecutive field rows of the (B*S, K_in) GEMM input.
  gpu::CopyMat(x, MatView{cache->x.data(), z.b, x.cols, x.cols, gpu});
  const ConstMatView xs = cache->x.view();
  for (Tensor* t : {&cache->q, &cache->k, &cache->v, &cache->pre})
    internal::PlaceTensor(t, {n, z.e}, gpu);
  gpu::Gemm(false, false, 1.0f, xs, w_q, 0.0f, cache->q.view());
  gpu::Gemm(false, false, 1.0f, xs, w_k, 0.0f, cache->k.view());
  gpu::Gemm(false, false, 1.0f, xs, w_v, 0.0f, cache->v.view());
  if (w_res.data != nullptr) {
    gpu::Gemm(false, false, 1.0f, xs, w_res, 0.0f, cache->pre.view());
  } else {
    cache->pre.Zero();
  }
  internal::PlaceTensor(&cache->attn, {z.b, scores}, gpu);
  for (int64_t h = 0; h < z.h; ++h) {
    PerSample(gpu, false, true, Head(cache->q, z, h), sample, Head(cache->k, z, h), sample, 0.0f,
              Scores(&cache->attn, z, h), scores, z.b, scale);
  }
  // Softmax over key fields t of each (sample, head, query field) row.
  float* attn = cache->attn.data();
  const int64_t s = z.s;
  ForEach(gpu, z.b * z.h * s, [=] __host__ __device__(int64_t row) {
    float* a = attn + row * s;
    float mx = a[0];
    for (int64_t t = 1; t < s; ++t) mx = fmaxf(mx, a[t]);
    float sum = 0.0f;
    for (int64_t t = 0; t < s; ++t) {
      a[t] = expf(a[t] - mx);
      sum += a[t];
    }
    const float inv = 1.0f / sum;
    for (int64_t t = 0; t < s; ++t) a[t] *= inv;
  });
  for (int64_t h = 0; h < z.h; ++h) {
    PerSample(gpu, false, false, Scores(cache->attn, z, h), scores, Head(cache->v, z, h), sample,
              1.0f, Head(&cache->pre, z, h), sample, z.b);
  }
  const float* pre = cache->pre.data();
  ForEach(gpu, z.b * sample, [=] __host__ __device__(int64_t i) {
    const int64_t b = i / sample, j = i % sample;
    y.data[b * y.ld + j] = fmaxf(pre[i], 0.0f);
  });
}

void FieldAttentionBackward(ConstMatView w_q, ConstMatView w_k, ConstMatView w_v,
                            ConstMatView w_res, const FieldAttentionCache& cache, ConstMatView dy,
                            MatView dx, float dx_beta, MatView dw_q, MatView dw_k, MatView dw_v,
                            MatView dw_res) {
  GpuResources* gpu = CommonDevice(w_q, w_k, w_v, w_res, dy, dx, dw_q, dw_k, dw_v, dw_res);
  CHECK_GE(cache.num_fields, 1) << "field attention backward before forward";
  CHECK(cache.q.gpu() == gpu) << "field attention cache is on another device than the views";
  const int64_t kin = cache.x.cols();
  const Dims z{cache.attn.rows(), cache.num_fields,           kin,
               cache.num_heads,   w_q.cols / cache.num_heads, w_q.cols};
  CheckWeights(w_q, w_k, w_v, w_res, z);
  const int64_t n = z.b * z.s, sample = z.s * z.e, scores = z.h * z.s * z.s;
  CHECK(cache.q.rows() == n && cache.q.cols() == z.e) << "field attention cache is stale";
  CHECK(dy.rows == z.b && dy.cols == sample);
  CHECK(dx.rows == z.b && dx.cols == z.s * kin);
  for (ConstMatView dw : {ConstMatView(dw_q), ConstMatView(dw_k), ConstMatView(dw_v)}) {
    CHECK(dw.rows == kin && dw.cols == z.e);
  }
  const bool residual = w_res.data != nullptr;
  if (residual) CHECK(dw_res.rows == kin && dw_res.cols == z.e);
  for (Tensor* t : {&cache.dpre, &cache.dq, &cache.dk, &cache.dv})
    internal::PlaceTensor(t, {n, z.e}, gpu);
  internal::PlaceTensor(&cache.dx, {n, kin}, gpu);
  internal::PlaceTensor(&cache.dattn, {z.b, scores}, gpu);
  // Through the ReLU.
  {
    const float* pre = cache.pre.data();
    float* dpre = cache.dpre.data();
    ForEach(gpu, z.b * sample, [=] __host__ __device__(int64_t i) {
      const int64_t b = i / sample, j = i % sample;
      dpre[i] = pre[i] > 0.0f ? dy.data[b * dy.ld + j] : 0.0f;
    });
  }
  const ConstMatView xs = cache.x.view(), dpre = cache.dpre.view();
  const MatView dxs = cache.dx.view();
  float beta = 0.0f;  // for dxs: written by the first GEMM into it, added to by the others
  if (residual) {
    gpu::Gemm(true, false, 1.0f, xs, dpre, 1.0f, dw_res);
    gpu::Gemm(false, true, 1.0f, dpre, w_res, 0.0f, dxs);
    beta = 1.0f;
  }
  // da = g V^T and dV = A^T g per sample and head (g = dpre).
  for (int64_t h = 0; h < z.h; ++h) {
    PerSample(gpu, false, true, Head(cache.dpre, z, h), sample, Head(cache.v, z, h), sample, 0.0f,
              Scores(&cache.dattn, z, h), scores, z.b);
    PerSample(gpu, true, false, Scores(cache.attn, z, h), scores, Head(cache.dpre, z, h), sample,
              0.0f, Head(&cache.dv, z, h), sample, z.b);
  }
  // Softmax backward in place: d score_t = a_t (da_t - sum_u a_u da_u), times the scale.
  {
    const float* attn = cache.attn.data();
    float* dattn = cache.dattn.data();
    const int64_t s = z.s;
    const float scale = cache.scale;
    ForEach(gpu, z.b * z.h * s, [=] __host__ __device__(int64_t row) {
      const float* a = attn + row * s;
      float* da = dattn + row * s;
      float mean = 0.0f;
      for (int64_t t = 0; t < s; ++t) mean += a[t] * da[t];
      for (int64_t t = 0; t < s; ++t) da[t] = a[t] * (da[t] - mean) * scale;
    });
  }
  // dQ = dS K and dK = dS^T Q per sample and head.
  for (int64_t h = 0; h < z.h; ++h) {
    PerSample(gpu, false, false, Scores(&cache.dattn, z, h), scores, Head(cache.k, z, h), sample,
              0.0f, Head(&cache.dq, z, h), sample, z.b);
    PerSample(gpu, true, false, Scores(&cache.dattn, z, h), scores, Head(cache.q, z, h), sample,
              0.0f, Head(&cache.dk, z, h), sample, z.b);
  }
  const ConstMatView grads[3] = {cache.dq.view(), cache.dk.view(), cache.dv.view()};
  const ConstMatView weights[3] = {w_q, w_k, w_v};
  const MatView dweights[3] = {dw_q, dw_k, dw_v};
  for (int i = 0; i < 3; ++i) {
    gpu::Gemm(true, false, 1.0f, xs, grads[i], 1.0f, dweights[i]);
    gpu::Gemm(false, true, 1.0f, grads[i], weights[i], beta, dxs);
    beta = 1.0f;
  }
  const int64_t width = z.s * kin;
  const float* src = cache.dx.data();
  ForEach(gpu, z.b * width, [=] __host__ __device__(int64_t i) {
    const int64_t b = i / width, j = i % width;
    float* d = dx.data + b * dx.ld + j;
    *d = dx_beta == 0.0f ? src[i] : src[i] + dx_beta * *d;
  });
}

}  // namespace gpu
}  // namespace moerec
