#include "core/cin.h"

#include <algorithm>
#include <cstring>

#include "core/internal/field_shapes.h"
#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/linear.h"

namespace moerec {

using internal::ForEachRow;
using internal::LaneSum;

namespace {

// A chunk of rows side by side makes about this many GEMM columns (rows * k): enough for BLAS
// to run at speed, small enough that a chunk's products stay in the outer caches.
constexpr int64_t kChunkColumns = 256;

int64_t ChunkRows(int64_t k) { return std::max<int64_t>(1, kChunkColumns / k); }

// z (m, n*k) for rows [b0, b0 + n): z[i*S + j, b*k + c] = xprev[b0 + b, i*k + c] *
// x0[b0 + b, j*k + c].
void BuildProducts(ConstMatView x0, ConstMatView xprev, const internal::CinDims& d, int64_t b0,
                   int64_t n, MatView z) {
  ParallelFor(d.m, internal::RowGrain(n * d.k), [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t i = q / d.s, j = q % d.s;
      float* __restrict zq = z.row(q);
      for (int64_t b = 0; b < n; ++b) {
        const float* __restrict p = xprev.row(b0 + b) + i * d.k;
        const float* __restrict e = x0.row(b0 + b) + j * d.k;
        float* __restrict out = zq + b * d.k;
        for (int64_t c = 0; c < d.k; ++c) out[c] = p[c] * e[c];
      }
    }
  });
}

// Between the row layout (B, H*k) and a chunk's GEMM layout (H, n*k):
// t[f, b*k + c] = x[b0 + b, f*k + c].
void GatherChunk(ConstMatView x, int64_t b0, int64_t n, int64_t h, int64_t k, MatView t) {
  ForEachRow(n, h * k, [&](int64_t b) {
    for (int64_t f = 0; f < h; ++f) {
      std::memcpy(t.row(f) + b * k, x.row(b0 + b) + f * k, k * sizeof(float));
    }
  });
}

void ScatterChunk(ConstMatView t, int64_t b0, int64_t n, int64_t h, int64_t k, MatView x) {
  ForEachRow(n, h * k, [&](int64_t b) {
    for (int64_t f = 0; f < h; ++f) {
      std::memcpy(x.row(b0 + b) + f * k, t.row(f) + b * k, k * sizeof(float));
    }
  });
}

// One row's input gradients from its block of dz (columns [b*k, (b+1)*k) of every row of dz).
void ProductGradientsRow(const internal::CinDims& d, const float* __restrict dz, int64_t dz_ld,
                         const float* __restrict x0, const float* __restrict xprev, float beta,
                         float* __restrict dx0, float* __restrict dxprev) {
  const int64_t k = d.k;
  if (beta == 0.0f) {
    std::memset(dx0, 0, d.s * k * sizeof(float));
  } else {
    for (int64_t c = 0; c < d.s * k; ++c) dx0[c] *= beta;
  }
  std::memset(dxprev, 0, d.hp * k * sizeof(float));
  for (int64_t i = 0; i < d.hp; ++i) {
    const float* __restrict p = xprev + i * k;
    float* __restrict dp = dxprev + i * k;
    for (int64_t j = 0; j < d.s; ++j) {
      const float* __restrict g = dz + (i * d.s + j) * dz_ld;
      const float* __restrict e = x0 + j * k;
      float* __restrict de = dx0 + j * k;
      for (int64_t c = 0; c < k; ++c) {
        dp[c] += g[c] * e[c];
        de[c] += g[c] * p[c];
      }
    }
  }
}

}  // namespace

void CinLayerForward(ConstMatView x0, ConstMatView xprev, int num_fields, ConstMatView w,
                     MatView xnext) {
  MOEREC_GPU_DISPATCH(x0, gpu::CinLayerForward(x0, xprev, num_fields, w, xnext));
  const internal::CinDims d =
      internal::CheckCinDims(x0, xprev, num_fields, w, xnext.rows, xnext.cols);
  const int64_t chunk_rows = ChunkRows(d.k);
  const int64_t cols = chunk_rows * d.k;
  // Nothing else takes this thread's scratch while the pointer is in use.
  float* scratch = internal::Scratch<float>((d.m + d.h) * cols);
  for (int64_t b0 = 0; b0 < x0.rows; b0 += chunk_rows) {
    const int64_t n = std::min(chunk_rows, x0.rows - b0);
    const MatView z{scratch, d.m, n * d.k, n * d.k};
    const MatView y{scratch + d.m * cols, d.h, n * d.k, n * d.k};
    BuildProducts(x0, xprev, d, b0, n, z);
    Gemm(false, false, 1.0f, w, z, 0.0f, y);
    ScatterChunk(y, b0, n, d.h, d.k, xnext);
  }
}

void CinLayerBackward(ConstMatView x0, ConstMatView xprev, int num_fields, ConstMatView w,
                      ConstMatView dxnext, MatView dx0, float dx0_beta, MatView dxprev,
                      MatView dw) {
  MOEREC_GPU_DISPATCH(
      x0, gpu::CinLayerBackward(x0, xprev, num_fields, w, dxnext, dx0, dx0_beta, dxprev, dw));
  const internal::CinDims d =
      internal::CheckCinDims(x0, xprev, num_fields, w, dxnext.rows, dxnext.cols);
  const int64_t chunk_rows = ChunkRows(d.k);
  CHECK(dx0.rows == x0.rows && dx0.cols == x0.cols);
  CHECK(dxprev.rows == xprev.rows && dxprev.cols == xprev.cols);
  CHECK(dw.rows == w.rows && dw.cols == w.cols);
  const int64_t cols = chunk_rows * d.k;
  float* scratch = internal::Scratch<float>((2 * d.m + d.h) * cols);
  for (int64_t b0 = 0; b0 < x0.rows; b0 += chunk_rows) {
    const int64_t n = std::min(chunk_rows, x0.rows - b0);
    const MatView z{scratch, d.m, n * d.k, n * d.k};
    const MatView dz{scratch + d.m * cols, d.m, n * d.k, n * d.k};
    const MatView g{scratch + 2 * d.m * cols, d.h, n * d.k, n * d.k};
    BuildProducts(x0, xprev, d, b0, n, z);
    GatherChunk(dxnext, b0, n, d.h, d.k, g);
    Gemm(false, true, 1.0f, g, z, 1.0f, dw);  // dW += dXnext Z^T, over the chunk's rows
    Gemm(true, false, 1.0f, w, g, 0.0f, dz);  // dZ = W^T dXnext
    ForEachRow(n, d.m * d.k, [&](int64_t b) {
      ProductGradientsRow(d, dz.data + b * d.k, dz.ld, x0.row(b0 + b), xprev.row(b0 + b), dx0_beta,
                          dx0.row(b0 + b), dxprev.row(b0 + b));
    });
  }
}

void FieldSumPoolForward(ConstMatView x, MatView y) {
  MOEREC_GPU_DISPATCH(x, gpu::FieldSumPoolForward(x, y));
  CHECK_EQ(x.rows, y.rows);
  CHECK_GE(y.cols, 1);
  CHECK_EQ(x.cols % y.cols, 0) << "width " << x.cols << " is not " << y.cols << " fields";
  const int64_t k = x.cols / y.cols;
  ForEachRow(x.rows, x.cols, [&](int64_t r) {
    const float* xr = x.row(r);
    float* yr = y.row(r);
    for (int64_t h = 0; h < y.cols; ++h) {
      const float* xh = xr + h * k;
      yr[h] = LaneSum(k, [&](int64_t c) { return xh[c]; });
    }
  });
}

void FieldSumPoolBackward(ConstMatView dy, MatView dx) {
  MOEREC_GPU_DISPATCH(dy, gpu::FieldSumPoolBackward(dy, dx));
  CHECK_EQ(dx.rows, dy.rows);
  CHECK_GE(dy.cols, 1);
  CHECK_EQ(dx.cols % dy.cols, 0) << "width " << dx.cols << " is not " << dy.cols << " fields";
  const int64_t k = dx.cols / dy.cols;
  ForEachRow(dx.rows, dx.cols, [&](int64_t r) {
    const float* g = dy.row(r);
    float* d = dx.row(r);
    for (int64_t h = 0; h < dy.cols; ++h) std::fill_n(d + h * k, k, g[h]);
  });
}

}  // namespace moerec
