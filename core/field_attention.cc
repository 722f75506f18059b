#include "core/field_attention.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "core/internal/cache_tensor.h"
#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/linear.h"

namespace moerec {

using internal::ForEachRow;
using internal::LaneSum;

namespace {

struct Dims {
  int64_t s, kin, h, d, e;
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

float Dot(int64_t n, const float* a, const float* b) {
  return LaneSum(n, [&](int64_t c) { return a[c] * b[c]; });
}

// y += a * x.
void Axpy(int64_t n, float a, const float* __restrict x, float* __restrict y) {
  for (int64_t c = 0; c < n; ++c) y[c] += a * x[c];
}

// Attention of sample b: fills its weights and adds the heads' outputs to pre. q, k, v, pre
// point at the sample's first field row (S rows of E floats each).
void AttentionRow(const Dims& z, float scale, const float* q, const float* k, const float* v,
                  float* attn, float* pre) {
  for (int64_t h = 0; h < z.h; ++h) {
    const int64_t off = h * z.d;
    for (int64_t s = 0; s < z.s; ++s) {
      float* a = attn + (h * z.s + s) * z.s;
      const float* qs = q + s * z.e + off;
      for (int64_t t = 0; t < z.s; ++t) a[t] = scale * Dot(z.d, qs, k + t * z.e + off);
      const float mx = *std::max_element(a, a + z.s);
      for (int64_t t = 0; t < z.s; ++t) a[t] = internal::Exp(a[t] - mx);
      const float inv = 1.0f / LaneSum(z.s, [&](int64_t t) { return a[t]; });
      float* out = pre + s * z.e + off;
      for (int64_t t = 0; t < z.s; ++t) {
        a[t] *= inv;
        Axpy(z.d, a[t], v + t * z.e + off, out);
      }
    }
  }
}

// The attention's backward pass for sample b: writes the sample's rows of dq, dk, dv from its
// rows of g = dL/dpre. da: S floats of working memory.
void AttentionBackwardRow(const Dims& z, float scale, const float* q, const float* k,
                          const float* v, const float* attn, const float* g, float* da, float* dq,
                          float* dk, float* dv) {
  std::memset(dq, 0, z.s * z.e * sizeof(float));
  std::memset(dk, 0, z.s * z.e * sizeof(float));
  std::memset(dv, 0, z.s * z.e * sizeof(float));
  for (int64_t h = 0; h < z.h; ++h) {
    const int64_t off = h * z.d;
    for (int64_t s = 0; s < z.s; ++s) {
      const float* a = attn + (h * z.s + s) * z.s;
      const float* gs = g + s * z.e + off;
      for (int64_t t = 0; t < z.s; ++t) {
        da[t] = Dot(z.d, gs, v + t * z.e + off);
        Axpy(z.d, a[t], gs, dv + t * z.e + off);
      }
      // Softmax backward: d score_t = a_t (da_t - sum_u a_u da_u), times the scale.
      const float mean = LaneSum(z.s, [&](int64_t t) { return a[t] * da[t]; });
      const float* qs = q + s * z.e + off;
      float* dqs = dq + s * z.e + off;
      for (int64_t t = 0; t < z.s; ++t) {
        const float ds = a[t] * (da[t] - mean) * scale;
        Axpy(z.d, ds, k + t * z.e + off, dqs);
        Axpy(z.d, ds, qs, dk + t * z.e + off);
      }
    }
  }
}

}  // namespace

void FieldAttentionForward(ConstMatView x, int num_fields, int num_heads, ConstMatView w_q,
                           ConstMatView w_k, ConstMatView w_v, ConstMatView w_res, MatView y,
                           FieldAttentionCache* cache, float scale) {
  MOEREC_GPU_DISPATCH(x, gpu::FieldAttentionForward(x, num_fields, num_heads, w_q, w_k, w_v, w_res,
                                                    y, cache, scale));
  CHECK_GE(num_fields, 1);
  CHECK_GE(num_heads, 1);
  CHECK_EQ(x.cols % num_fields, 0) << "width " << x.cols << " is not " << num_fields << " fields";
  const Dims z{num_fields, x.cols / num_fields, num_heads, w_q.cols / num_heads, w_q.cols};
  CheckWeights(w_q, w_k, w_v, w_res, z);
  CHECK_EQ(y.rows, x.rows);
  CHECK_EQ(y.cols, z.s * z.e);
  const int64_t batch = x.rows, n = batch * z.s;
  cache->num_fields = num_fields;
  cache->num_heads = num_heads;
  cache->scale = scale;
  internal::MoveToHost({&cache->x, &cache->q, &cache->k, &cache->v, &cache->attn, &cache->pre});
  // A row of x is S consecutive field rows: one copy makes the (B*S, K_in) GEMM input.
  cache->x.Resize({n, z.kin});
  ForEachRow(batch, x.cols, [&](int64_t b) {
    std::memcpy(cache->x.data() + b * x.cols, x.row(b), x.cols * sizeof(float));
  });
  const ConstMatView xs = cache->x.view();
  for (Tensor* t : {&cache->q, &cache->k, &cache->v, &cache->pre}) t->Resize({n, z.e});
  Gemm(false, false, 1.0f, xs, w_q, 0.0f, cache->q.view());
  Gemm(false, false, 1.0f, xs, w_k, 0.0f, cache->k.view());
  Gemm(false, false, 1.0f, xs, w_v, 0.0f, cache->v.view());
  if (w_res.data != nullptr) {
    Gemm(false, false, 1.0f, xs, w_res, 0.0f, cache->pre.view());
  } else {
    cache->pre.Zero();
  }
  cache->attn.Resize({batch, z.h * z.s * z.s});
  const int64_t row = z.s * z.e;  // floats of a sample in q, k, v, pre
  ForEachRow(batch, z.s * z.s * z.e, [&](int64_t b) {
    float* pre = cache->pre.data() + b * row;
    AttentionRow(z, scale, cache->q.data() + b * row, cache->k.data() + b * row,
                 cache->v.data() + b * row, cache->attn.data() + b * z.h * z.s * z.s, pre);
    float* yb = y.row(b);
    for (int64_t j = 0; j < row; ++j) yb[j] = std::max(pre[j], 0.0f);
  });
}

void FieldAttentionBackward(ConstMatView w_q, ConstMatView w_k, ConstMatView w_v,
                            ConstMatView w_res, const FieldAttentionCache& cache, ConstMatView dy,
                            MatView dx, float dx_beta, MatView dw_q, MatView dw_k, MatView dw_v,
                            MatView dw_res) {
  MOEREC_GPU_DISPATCH(dy, gpu::FieldAttentionBackward(w_q, w_k, w_v, w_res, cache, dy, dx, dx_beta,
                                                      dw_q, dw_k, dw_v, dw_res));
  CHECK_GE(cache.num_fields, 1) << "field attention backward before forward";
  CHECK(!cache.q.on_gpu()) << "field attention cache is on a device, the views on the host";
  const int64_t kin = cache.x.cols();
  const Dims z{cache.num_fields, kin, cache.num_heads, w_q.cols / cache.num_heads, w_q.cols};
  CheckWeights(w_q, w_k, w_v, w_res, z);
  const int64_t batch = cache.attn.rows(), n = batch * z.s, row = z.s * z.e;
  CHECK(cache.q.rows() == n && cache.q.cols() == z.e) << "field attention cache is stale";
  CHECK(dy.rows == batch && dy.cols == row);
  CHECK(dx.rows == batch && dx.cols == z.s * kin);
  for (ConstMatView dw : {ConstMatView(dw_q), ConstMatView(dw_k), ConstMatView(dw_v)}) {
    CHECK(dw.rows == kin && dw.cols == z.e);
  }
  const bool residual = w_res.data != nullptr;
  if (residual) CHECK(dw_res.rows == kin && dw_res.cols == z.e);
  internal::MoveToHost({&cache.dpre, &cache.dq, &cache.dk, &cache.dv, &cache.dx});
  for (Tensor* t : {&cache.dpre, &cache.dq, &cache.dk, &cache.dv}) t->Resize({n, z.e});
  cache.dx.Resize({n, kin});
  // Through the ReLU.
  ForEachRow(batch, row, [&](int64_t b) {
    const float* pre = cache.pre.data() + b * row;
    const float* g = dy.row(b);
    float* d = cache.dpre.data() + b * row;
    for (int64_t j = 0; j < row; ++j) d[j] = pre[j] > 0.0f ? g[j] : 0.0f;
  });
  const ConstMatView xs = cache.x.view(), dpre = cache.dpre.view();
  const MatView dxs = cache.dx.view();
  float beta = 0.0f;  // for dxs: written by the first GEMM into it, added to by the others
  if (residual) {
    Gemm(true, false, 1.0f, xs, dpre, 1.0f, dw_res);
    Gemm(false, true, 1.0f, dpre, w_res, 0.0f, dxs);
    beta = 1.0f;
  }
  ForEachRow(batch, z.s * z.s * z.e, [&](int64_t b) {
    AttentionBackwardRow(z, cache.scale, cache.q.data() + b * row, cache.k.data() + b * row,
                         cache.v.data() + b * row, cache.attn.data() + b * z.h * z.s * z.s,
                         cache.dpre.data() + b * row, internal::Scratch<float>(z.s),
                         cache.dq.data() + b * row, cache.dk.data() + b * row,
                         cache.dv.data() + b * row);
  });
  const ConstMatView grads[3] = {cache.dq.view(), cache.dk.view(), cache.dv.view()};
  const ConstMatView weights[3] = {w_q, w_k, w_v};
  const MatView dweights[3] = {dw_q, dw_k, dw_v};
  for (int i = 0; i < 3; ++i) {
    Gemm(true, false, 1.0f, xs, grads[i], 1.0f, dweights[i]);
    Gemm(false, true, 1.0f, grads[i], weights[i], beta, dxs);
    beta = 1.0f;
  }
  const int64_t width = z.s * kin;
  ForEachRow(batch, width, [&](int64_t b) {
    const float* __restrict src = cache.dx.data() + b * width;
    float* __restrict d = dx.row(b);
    if (dx_beta == 0.0f) {
      std::memcpy(d, src, width * sizeof(float));
    } else {
      for (int64_t j = 0; j < width; ++j) d[j] = src[j] + dx_beta * d[j];
    }
  });
}

}  // namespace moerec
