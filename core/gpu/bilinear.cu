// CUDA twins of core/bilinear.h (its dimension legend, gradient rule and cache contract hold
// here). The products v_i W are cuBLAS GEMMs, one per weight use over all rows, as on the CPU;
// the cache tensors live on the views' device (recreated there when they are elsewhere). The
// elementwise passes are one body per output element: an element of dv sums its pairs (i, j)
// in increasing i, an element of a first field's e block its pairs in increasing j, which is
// the order the CPU kernel adds in. w and dw are device pointers.
#include "core/gpu/internal/blas.h"
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"
#include "core/internal/cache_tensor.h"
#include "core/internal/field_shapes.h"

namespace moerec {
namespace gpu {
namespace {

// core/interaction.h's FieldPairIndex, for kernel bodies.
__host__ __device__ inline int64_t PairIndex(int64_t i, int64_t j, int64_t s) {
  return i * (2 * s - i - 1) / 2 + (j - i - 1);
}

// The pair (i, j) of index q.
__host__ __device__ inline void PairOf(int64_t q, int64_t s, int64_t* i, int64_t* j) {
  int64_t first = 0;
  while (q >= s - 1 - first) {
    q -= s - 1 - first;
    ++first;
  }
  *i = first;
  *j = first + 1 + q;
}

}  // namespace

void BilinearForward(BilinearType type, ConstMatView v, int num_fields, const float* w, MatView out,
                     BilinearCache* cache) {
  const internal::BilinearDims d =
      internal::CheckBilinearDims(type, v, num_fields, out.rows, out.cols);
  GpuResources* gpu = CommonDevice(v, out);
  const int64_t k = d.k, kk = k * k, s = d.s;
  const bool per_pair = type == BilinearType::kFieldInteraction;
  internal::PlaceTensor(&cache->t, {v.rows, d.blocks * k}, gpu);
  const MatView t = cache->t.view();
  int64_t p = 0;
  for (int64_t i = 0; i + 1 < s; ++i) {
    const ConstMatView vi = v.Cols(i * k, k);
    if (per_pair) {
      for (int64_t j = i + 1; j < s; ++j, ++p) {
        BlasGemm(gpu, false, false, 1.0f, vi, ConstMatView(w + p * kk, k, k, k, gpu), 0.0f,
                 t.Cols(p * k, k));
      }
    } else {
      const float* wi = w + (type == BilinearType::kFieldEach ? i : 0) * kk;
      BlasGemm(gpu, false, false, 1.0f, vi, ConstMatView(wi, k, k, k, gpu), 0.0f, t.Cols(i * k, k));
    }
  }
  // out_q = t_block(q) ⊙ v_j.
  ForEach(gpu, out.rows * out.cols, [=] __host__ __device__(int64_t e) {
    const int64_t r = e / out.cols, col = e % out.cols, q = col / k, c = col % k;
    int64_t i, j;
    PairOf(q, s, &i, &j);
    const int64_t block = per_pair ? q : i;
    out.data[r * out.ld + col] = t.data[r * t.ld + block * k + c] * v.data[r * v.ld + j * k + c];
  });
}

void BilinearBackward(BilinearType type, ConstMatView v, int num_fields, const float* w,
                      const BilinearCache& cache, ConstMatView dout, MatView dv, float dv_beta,
                      float* dw) {
  const internal::BilinearDims d =
      internal::CheckBilinearDims(type, v, num_fields, dout.rows, dout.cols);
  CHECK(dv.rows == v.rows && dv.cols == v.cols);
  CHECK(cache.t.rows() == v.rows && cache.t.cols() == d.blocks * d.k) << "bilinear cache is stale";
  GpuResources* gpu = CommonDevice(v, dout, dv, cache.t.view());
  const int64_t k = d.k, kk = k * k, s = d.s;
  const bool per_pair = type == BilinearType::kFieldInteraction;
  internal::PlaceTensor(&cache.e, {cache.t.rows(), cache.t.cols()}, gpu);
  const ConstMatView t = cache.t.view();
  const MatView e = cache.e.view();
  // dv_j = dv_beta dv_j + sum_{i < j} dout_(i,j) ⊙ t_block(i,j).
  ForEach(gpu, dv.rows * dv.cols, [=] __host__ __device__(int64_t x) {
    const int64_t r = x / dv.cols, col = x % dv.cols, j = col / k, c = col % k;
    float* out = dv.data + r * dv.ld + col;
    float acc = dv_beta == 0.0f ? 0.0f : dv_beta * *out;
    for (int64_t i = 0; i < j; ++i) {
      const int64_t q = PairIndex(i, j, s);
      acc += dout.data[r * dout.ld + q * k + c] * t.data[r * t.ld + (per_pair ? q : i) * k + c];
    }
    *out = acc;
  });
  // e_q = dout_q ⊙ v_j per pair, or e_i = sum_{j > i} dout_(i,j) ⊙ v_j per first field.
  ForEach(gpu, e.rows * e.cols, [=] __host__ __device__(int64_t x) {
    const int64_t r = x / e.cols, col = x % e.cols, block = col / k, c = col % k;
    const float* g = dout.data + r * dout.ld;
    const float* vr = v.data + r * v.ld;
    float acc;
    if (per_pair) {
      int64_t i, j;
      PairOf(block, s, &i, &j);
      acc = g[block * k + c] * vr[j * k + c];
    } else {
      const int64_t i = block;
      acc = g[PairIndex(i, i + 1, s) * k + c] * vr[(i + 1) * k + c];
      for (int64_t j = i + 2; j < s; ++j) acc += g[PairIndex(i, j, s) * k + c] * vr[j * k + c];
    }
    e.data[r * e.ld + col] = acc;
  });
  // Per block: dW += v_i^T e_block, dv_i += e_block W^T.
  int64_t p = 0;
  for (int64_t i = 0; i + 1 < s; ++i) {
    const ConstMatView vi = v.Cols(i * k, k);
    const MatView dvi = dv.Cols(i * k, k);
    const int64_t uses = per_pair ? s - 1 - i : 1;  // blocks whose first field is i
    for (int64_t u = 0; u < uses; ++u, ++p) {
      const int64_t block = per_pair ? p : i;
      const int64_t m = per_pair ? p : (type == BilinearType::kFieldEach ? i : 0);
      BlasGemm(gpu, true, false, 1.0f, vi, e.Cols(block * k, k), 1.0f,
               MatView{dw + m * kk, k, k, k, gpu});
      BlasGemm(gpu, false, true, 1.0f, e.Cols(block * k, k), ConstMatView(w + m * kk, k, k, k, gpu),
               1.0f, dvi);
    }
  }
}

}  // namespace gpu
}  // namespace moerec
