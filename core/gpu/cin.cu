// CUDA twins of core/cin.h (its dimension legend and gradient rule hold here). As on the CPU,
// rows are taken in chunks whose products Z[i*S + j, b*k + c] = Xprev[b, i, c] * X0[b, j, c]
// are laid side by side and met by one cuBLAS GEMM with W; a chunk holds as many rows as fit in
// about kChunkFloats floats of device scratch (rather than the CPU's cache-sized chunks), so a
// batch is a few large GEMMs. The rest is one body per element: building Z, moving between the
// row layout (B, H*k) and the GEMM layout (H, n*k), and the input gradients, each summing over
// i or j in increasing order as the CPU kernel does. The scratch is a device Tensor per call
// (the caching allocator makes that cheap).
#include <algorithm>

#include "core/gpu/internal/blas.h"
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"
#include "core/internal/field_shapes.h"

namespace moerec {
namespace gpu {
namespace {

// Device scratch per chunk, in floats (64 MiB).
constexpr int64_t kChunkFloats = int64_t{1} << 24;

// Rows per chunk when a chunk row needs `floats_per_row` floats of scratch.
int64_t ChunkRows(int64_t rows, int64_t floats_per_row) {
  return std::max<int64_t>(1, std::min(rows, kChunkFloats / std::max<int64_t>(floats_per_row, 1)));
}

// z (m, n*k) for rows [b0, b0 + n).
void BuildProducts(GpuResources* gpu, ConstMatView x0, ConstMatView xprev,
                   const internal::CinDims& d, int64_t b0, int64_t n, MatView z) {
  const int64_t s = d.s, k = d.k, nk = n * d.k;
  ForEach(gpu, d.m * nk, [=] __host__ __device__(int64_t x) {
    const int64_t q = x / nk, col = x % nk, b = b0 + col / k, c = col % k;
    const int64_t i = q / s, j = q % s;
    z.data[q * z.ld + col] = xprev.data[b * xprev.ld + i * k + c] * x0.data[b * x0.ld + j * k + c];
  });
}

}  // namespace

void CinLayerForward(ConstMatView x0, ConstMatView xprev, int num_fields, ConstMatView w,
                     MatView xnext) {
  const internal::CinDims d =
      internal::CheckCinDims(x0, xprev, num_fields, w, xnext.rows, xnext.cols);
  GpuResources* gpu = CommonDevice(x0, xprev, w, xnext);
  if (x0.rows == 0) return;
  const int64_t k = d.k, h = d.h;
  const int64_t chunk = ChunkRows(x0.rows, (d.m + d.h) * d.k);
  Tensor scratch({(d.m + d.h) * chunk * d.k}, gpu);
  for (int64_t b0 = 0; b0 < x0.rows; b0 += chunk) {
    const int64_t n = std::min(chunk, x0.rows - b0), nk = n * k;
    const MatView z{scratch.data(), d.m, nk, nk, gpu};
    const MatView y{scratch.data() + d.m * nk, d.h, nk, nk, gpu};
    BuildProducts(gpu, x0, xprev, d, b0, n, z);
    BlasGemm(gpu, false, false, 1.0f, w, z, 0.0f, y);
    // xnext[b0 + b, f*k + c] = y[f, b*k + c].
    ForEach(gpu, n * h * k, [=] __host__ __device__(int64_t x) {
      const int64_t b = x / (h * k), col = x % (h * k), f = col / k, c = col % k;
      xnext.data[(b0 + b) * xnext.ld + col] = y.data[f * y.ld + b * k + c];
    });
  }
}

void CinLayerBackward(ConstMatView x0, ConstMatView xprev, int num_fields, ConstMatView w,
                      ConstMatView dxnext, MatView dx0, float dx0_beta, MatView dxprev,
                      MatView dw) {
  const internal::CinDims d =
      internal::CheckCinDims(x0, xprev, num_fields, w, dxnext.rows, dxnext.cols);
  CHECK(dx0.rows == x0.rows && dx0.cols == x0.cols);
  CHECK(dxprev.rows == xprev.rows && dxprev.cols == xprev.cols);
  CHECK(dw.rows == w.rows && dw.cols == w.cols);
  GpuResources* gpu = CommonDevice(x0, xprev, w, dxnext, dx0, dxprev, dw);
  if (x0.rows == 0) return;
  const int64_t s = d.s, k = d.k, h = d.h, hp = d.hp;
  const int64_t chunk = ChunkRows(x0.rows, (2 * d.m + d.h) * d.k);
  Tensor scratch({(2 * d.m + d.h) * chunk * d.k}, gpu);
  for (int64_t b0 = 0; b0 < x0.rows; b0 += chunk) {
    const int64_t n = std::min(chunk, x0.rows - b0), nk = n * k;
    const MatView z{scratch.data(), d.m, nk, nk, gpu};
    const MatView dz{scratch.data() + d.m * nk, d.m, nk, nk, gpu};
    const MatView g{scratch.data() + 2 * d.m * nk, d.h, nk, nk, gpu};
    BuildProducts(gpu, x0, xprev, d, b0, n, z);
    // g[f, b*k + c] = dxnext[b0 + b, f*k + c].
    ForEach(gpu, n * h * k, [=] __host__ __device__(int64_t x) {
      const int64_t b = x / (h * k), col = x % (h * k), f = col / k, c = col % k;
      g.data[f * g.ld + b * k + c] = dxnext.data[(b0 + b) * dxnext.ld + col];
    });
    BlasGemm(gpu, false, true, 1.0f, g, z, 1.0f, dw);  // dW += dXnext Z^T, over the chunk's rows
    BlasGemm(gpu, true, false, 1.0f, w, g, 0.0f, dz);  // dZ = W^T dXnext
    // dX0[b, j, c] = beta dX0 + sum_i dZ[i*S + j] Xprev[b, i, c].
    ForEach(gpu, n * s * k, [=] __host__ __device__(int64_t x) {
      const int64_t b = x / (s * k), col = x % (s * k), j = col / k, c = col % k;
      float* out = dx0.data + (b0 + b) * dx0.ld + col;
      const float* p = xprev.data + (b0 + b) * xprev.ld + c;
      float acc = dx0_beta == 0.0f ? 0.0f : dx0_beta * *out;
      for (int64_t i = 0; i < hp; ++i) acc += dz.data[(i * s + j) * dz.ld + b * k + c] * p[i * k];
      *out = acc;
    });
    // dXprev[b, i, c] = sum_j dZ[i*S + j] X0[b, j, c].
    ForEach(gpu, n * hp * k, [=] __host__ __device__(int64_t x) {
      const int64_t b = x / (hp * k), col = x % (hp * k), i = col / k, c = col % k;
      const float* e = x0.data + (b0 + b) * x0.ld + c;
      float acc = 0.0f;
      for (int64_t j = 0; j < s; ++j) acc += dz.data[(i * s + j) * dz.ld + b * k + c] * e[j * k];
      dxprev.data[(b0 + b) * dxprev.ld + col] = acc;
    });
  }
}

void FieldSumPoolForward(ConstMatView x, MatView y) {
  CHECK_EQ(x.rows, y.rows);
  CHECK_GE(y.cols, 1);
  CHECK_EQ(x.cols % y.cols, 0) << "width " << x.cols << " is not " << y.cols << " fields";
  GpuResources* gpu = CommonDevice(x, y);
  const int64_t k = x.cols / y.cols;
  // One body per (row, map), the map's k columns in order.
  ForEach(gpu, y.rows * y.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / y.cols, f = i % y.cols;
    const float* xh = x.data + r * x.ld + f * k;
    float acc = 0.0f;
    for (int64_t c = 0; c < k; ++c) acc += xh[c];
    y.data[r * y.ld + f] = acc;
  });
}

void FieldSumPoolBackward(ConstMatView dy, MatView dx) {
  CHECK_EQ(dx.rows, dy.rows);
  CHECK_GE(dy.cols, 1);
  CHECK_EQ(dx.cols % dy.cols, 0) << "width " << dx.cols << " is not " << dy.cols << " fields";
  GpuResources* gpu = CommonDevice(dy, dx);
  const int64_t k = dx.cols / dy.cols;
  ForEach(gpu, dx.rows * dx.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / dx.cols, col = i % dx.cols;
    dx.data[r * dx.ld + col] = dy.data[r * dy.ld + col / k];
  });
}

}  // namespace gpu
}  // namespace moerec
