#include "core/bilinear.h"

#include "core/interaction.h"
#include "core/internal/field_shapes.h"
#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/linear.h"

namespace moerec {

using internal::ForEachRow;

namespace {

// The weight matrix of pair p = (i, j), as an offset in matrices.
int64_t WeightIndex(BilinearType type, int64_t i, int64_t p) {
  switch (type) {
    case BilinearType::kFieldAll:
      return 0;
    case BilinearType::kFieldEach:
      return i;
    case BilinearType::kFieldInteraction:
      return p;
  }
  return 0;
}

// The cache block holding v_i W for pair p = (i, j).
int64_t Block(BilinearType type, int64_t i, int64_t p) {
  return type == BilinearType::kFieldInteraction ? p : i;
}

void MulRow(int64_t n, const float* __restrict a, const float* __restrict b, float* __restrict y) {
  for (int64_t c = 0; c < n; ++c) y[c] = a[c] * b[c];
}

void AddMulRow(int64_t n, const float* __restrict a, const float* __restrict b,
               float* __restrict y) {
  for (int64_t c = 0; c < n; ++c) y[c] += a[c] * b[c];
}

}  // namespace

int64_t BilinearNumWeights(BilinearType type, int64_t num_fields) {
  switch (type) {
    case BilinearType::kFieldAll:
      return 1;
    case BilinearType::kFieldEach:
      return num_fields;
    case BilinearType::kFieldInteraction:
      return NumFieldPairs(num_fields);
  }
  LOG(FATAL) << "unknown bilinear type " << static_cast<int>(type);
  return 0;
}

void BilinearForward(BilinearType type, ConstMatView v, int num_fields, const float* w, MatView out,
                     BilinearCache* cache) {
  MOEREC_GPU_DISPATCH(v, gpu::BilinearForward(type, v, num_fields, w, out, cache));
  const internal::BilinearDims d =
      internal::CheckBilinearDims(type, v, num_fields, out.rows, out.cols);
  const int64_t k = d.k, kk = k * k;
  cache->t.Resize({v.rows, d.blocks * k});
  const MatView t = cache->t.view();
  int64_t p = 0;
  for (int64_t i = 0; i + 1 < d.s; ++i) {
    const ConstMatView vi = v.Cols(i * k, k);
    if (type == BilinearType::kFieldInteraction) {
      for (int64_t j = i + 1; j < d.s; ++j, ++p) {
        Gemm(false, false, 1.0f, vi, ConstMatView(w + p * kk, k, k, k), 0.0f, t.Cols(p * k, k));
      }
    } else {
      const float* wi = w + WeightIndex(type, i, 0) * kk;
      Gemm(false, false, 1.0f, vi, ConstMatView(wi, k, k, k), 0.0f, t.Cols(i * k, k));
    }
  }
  ForEachRow(v.rows, out.cols, [&](int64_t r) {
    const float* x = v.row(r);
    const float* tr = t.row(r);
    float* o = out.row(r);
    int64_t q = 0;
    for (int64_t i = 0; i < d.s; ++i) {
      for (int64_t j = i + 1; j < d.s; ++j, ++q) {
        MulRow(k, tr + Block(type, i, q) * k, x + j * k, o + q * k);
      }
    }
  });
}

void BilinearBackward(BilinearType type, ConstMatView v, int num_fields, const float* w,
                      const BilinearCache& cache, ConstMatView dout, MatView dv, float dv_beta,
                      float* dw) {
  MOEREC_GPU_DISPATCH(v,
                      gpu::BilinearBackward(type, v, num_fields, w, cache, dout, dv, dv_beta, dw));
  const internal::BilinearDims d =
      internal::CheckBilinearDims(type, v, num_fields, dout.rows, dout.cols);
  CHECK(dv.rows == v.rows && dv.cols == v.cols);
  CHECK(cache.t.rows() == v.rows && cache.t.cols() == d.blocks * d.k) << "bilinear cache is stale";
  const int64_t k = d.k, kk = k * k;
  const bool per_pair = type == BilinearType::kFieldInteraction;
  cache.e.ResizeLike(cache.t);
  const ConstMatView t = cache.t.view();
  const MatView e = cache.e.view();
  ScaleMat(dv_beta, dv);
  // Row by row: dv_j += dout_p ⊙ t_p, and e = dout_p ⊙ v_j, per pair or summed over the pairs
  // of each first field.
  ForEachRow(v.rows, dout.cols, [&](int64_t r) {
    const float* x = v.row(r);
    const float* g = dout.row(r);
    const float* tr = t.row(r);
    float* er = e.row(r);
    float* dr = dv.row(r);
    int64_t q = 0;
    for (int64_t i = 0; i < d.s; ++i) {
      for (int64_t j = i + 1; j < d.s; ++j, ++q) {
        const int64_t block = Block(type, i, q);
        AddMulRow(k, g + q * k, tr + block * k, dr + j * k);
        if (per_pair || j == i + 1) {
          MulRow(k, g + q * k, x + j * k, er + block * k);
        } else {
          AddMulRow(k, g + q * k, x + j * k, er + block * k);
        }
      }
    }
  });
  // Then per block: dW += v_i^T e_block, dv_i += e_block W^T.
  int64_t p = 0;
  for (int64_t i = 0; i + 1 < d.s; ++i) {
    const ConstMatView vi = v.Cols(i * k, k);
    const MatView dvi = dv.Cols(i * k, k);
    const int64_t uses = per_pair ? d.s - 1 - i : 1;  // blocks whose first field is i
    for (int64_t u = 0; u < uses; ++u, ++p) {
      const int64_t block = per_pair ? p : i;
      const int64_t m = WeightIndex(type, i, p);
      const ConstMatView wm(w + m * kk, k, k, k);
      Gemm(true, false, 1.0f, vi, e.Cols(block * k, k), 1.0f, MatView{dw + m * kk, k, k, k});
      Gemm(false, true, 1.0f, e.Cols(block * k, k), wm, 1.0f, dvi);
    }
  }
}

}  // namespace moerec
