// CUDA twins of core/cross.h. The GEMMs (xl w, dz W^T, xl^T dz) go to cuBLAS; the elementwise
// parts are one body per output element, the kVector row dot one body per row (columns in
// order), so host execution and the device add in the same order.
//
// Dimension legend: B rows, d width.  x0, xl, y, dy, dx0, dxl: (B, d)
//   w, dw: (d, 1) kVector or (d, d) kMatrix   z, dz (cache): (B, 1) or (B, d)   b, db: (d) or null
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"
#include "core/internal/cache_tensor.h"

namespace moerec {
namespace gpu {
namespace {}  // namespace

void CrossLayerForward(CrossMode mode, ConstMatView x0, ConstMatView xl, ConstMatView w,
                       const float* b, MatView y, CrossLayerCache* cache) {
  GpuResources* gpu = CommonDevice(x0, xl, w, y);
  const bool vector = mode == CrossMode::kVector;
  CHECK(vector || mode == CrossMode::kMatrix);
  const int64_t d = x0.cols;
  CHECK(xl.rows == x0.rows && xl.cols == d && y.rows == x0.rows && y.cols == d);
  CHECK_EQ(w.rows, d) << "cross weight rows";
  CHECK_EQ(w.cols, vector ? 1 : d) << "cross weight: (d, 1) for kVector, (d, d) for kMatrix";
  internal::PlaceTensor(&cache->z, {x0.rows, w.cols}, gpu);
  const MatView z = cache->z.view();
  if (!vector && b != nullptr) {
    gpu::BroadcastRows(b, z);
    gpu::Gemm(false, false, 1.0f, xl, w, 1.0f, z);
  } else {
    gpu::Gemm(false, false, 1.0f, xl, w, 0.0f, z);
  }
  ForEach(gpu, x0.rows * d, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / d, c = i % d;
    const float x0v = x0.data[r * x0.ld + c], xlv = xl.data[r * xl.ld + c];
    float out;
    if (vector) {
      out = x0v * z.data[r * z.ld] + xlv;
      if (b != nullptr) out += b[c];
    } else {
      out = x0v * z.data[r * z.ld + c] + xlv;
    }
    y.data[r * y.ld + c] = out;
  });
}

void CrossLayerBackward(CrossMode mode, ConstMatView x0, ConstMatView xl, ConstMatView w,
                        const CrossLayerCache& cache, ConstMatView dy, MatView dx0, float dx0_beta,
                        MatView dxl, MatView dw, float* db) {
  GpuResources* gpu = CommonDevice(x0, xl, w, dy, dx0, dxl, dw);
  const bool vector = mode == CrossMode::kVector;
  CHECK(vector || mode == CrossMode::kMatrix);
  const int64_t rows = x0.rows, d = x0.cols;
  CHECK(xl.rows == rows && xl.cols == d && dy.rows == rows && dy.cols == d);
  CHECK(dx0.rows == rows && dx0.cols == d);
  CHECK(dxl.rows == rows && dxl.cols == d);
  CHECK(w.rows == d && w.cols == (vector ? 1 : d));
  CHECK(dw.rows == w.rows && dw.cols == w.cols);
  CHECK(cache.z.rows() == rows && cache.z.cols() == w.cols) << "cross cache is stale";
  CHECK(cache.z.gpu() == gpu) << "cross cache is on another device than the views";
  internal::PlaceTensor(&cache.dz, cache.z.shape(), gpu);
  const ConstMatView z = cache.z.view();
  const MatView dz = cache.dz.view();
  if (vector) {
    // dz[r] = <dy_r, x0_r>, then the elementwise part reads it.
    ForEach(gpu, rows, [=] __host__ __device__(int64_t r) {
      const float* g = dy.data + r * dy.ld;
      const float* x = x0.data + r * x0.ld;
      float s = 0.0f;
      for (int64_t c = 0; c < d; ++c) s += g[c] * x[c];
      dz.data[r * dz.ld] = s;
    });
  }
  ForEach(gpu, rows * d, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / d, c = i % d;
    const float g = dy.data[r * dy.ld + c];
    const float zv = vector ? z.data[r * z.ld] : z.data[r * z.ld + c];
    float* dx0p = dx0.data + r * dx0.ld + c;
    *dx0p = dx0_beta == 0.0f ? g * zv : g * zv + dx0_beta * *dx0p;
    if (vector) {
      dxl.data[r * dxl.ld + c] = g + dz.data[r * dz.ld] * w.data[c * w.ld];
    } else {
      dz.data[r * dz.ld + c] = g * x0.data[r * x0.ld + c];
      dxl.data[r * dxl.ld + c] = g;
    }
  });
  gpu::Gemm(true, false, 1.0f, xl, dz, 1.0f, dw);
  if (!vector) gpu::Gemm(false, true, 1.0f, dz, w, 1.0f, dxl);
  if (db != nullptr) gpu::BiasBackward(vector ? dy : ConstMatView(dz), db);
}

}  // namespace gpu
}  // namespace moerec
