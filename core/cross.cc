#include "core/cross.h"

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/linear.h"

namespace moerec {

using internal::ForEachRow;
using internal::LaneSum;

namespace {

void CheckShapes(CrossMode mode, ConstMatView x0, ConstMatView xl, ConstMatView w, int64_t rows,
                 int64_t cols) {
  CHECK(mode == CrossMode::kVector || mode == CrossMode::kMatrix);
  const int64_t d = x0.cols;
  CHECK_EQ(xl.rows, x0.rows);
  CHECK_EQ(xl.cols, d);
  CHECK_EQ(rows, x0.rows);
  CHECK_EQ(cols, d);
  CHECK_EQ(w.rows, d) << "cross weight rows";
  CHECK_EQ(w.cols, mode == CrossMode::kVector ? 1 : d)
      << "cross weight: (d, 1) for kVector, (d, d) for kMatrix";
}

// kVector: y = x0 * s + xl (+ b when b is not null).
void VectorCrossRow(int64_t d, const float* __restrict x0, float s, const float* __restrict xl,
                    const float* __restrict b, float* __restrict y) {
  for (int64_t c = 0; c < d; ++c) y[c] = x0[c] * s + xl[c];
  if (b != nullptr) {
    for (int64_t c = 0; c < d; ++c) y[c] += b[c];
  }
}

// kMatrix: y = x0 ⊙ z + xl.
void MatrixCrossRow(int64_t d, const float* __restrict x0, const float* __restrict z,
                    const float* __restrict xl, float* __restrict y) {
  for (int64_t c = 0; c < d; ++c) y[c] = x0[c] * z[c] + xl[c];
}

// dx0 = dy * z + beta * dx0 (z one scalar per row when z_step is 0, else a row).
void ScaledRow(int64_t d, const float* __restrict dy, const float* __restrict z, int64_t z_step,
               float beta, float* __restrict dx0) {
  if (beta == 0.0f) {
    for (int64_t c = 0; c < d; ++c) dx0[c] = dy[c] * z[c * z_step];
  } else {
    for (int64_t c = 0; c < d; ++c) dx0[c] = dy[c] * z[c * z_step] + beta * dx0[c];
  }
}

}  // namespace

void CrossLayerForward(CrossMode mode, ConstMatView x0, ConstMatView xl, ConstMatView w,
                       const float* b, MatView y, CrossLayerCache* cache) {
  MOEREC_GPU_DISPATCH(x0, gpu::CrossLayerForward(mode, x0, xl, w, b, y, cache));
  CheckShapes(mode, x0, xl, w, y.rows, y.cols);
  const int64_t d = x0.cols;
  const bool vector = mode == CrossMode::kVector;
  // A cache last used on a device (or made inside a DeviceScope) moves to the host.
  if (cache->z.on_gpu()) cache->z = Tensor({x0.rows, w.cols}, nullptr);
  cache->z.Resize({x0.rows, w.cols});
  const MatView z = cache->z.view();
  LinearForward(xl, w, vector ? nullptr : b, z);
  ForEachRow(x0.rows, d, [&](int64_t r) {
    if (vector) {
      VectorCrossRow(d, x0.row(r), z.row(r)[0], xl.row(r), b, y.row(r));
    } else {
      MatrixCrossRow(d, x0.row(r), z.row(r), xl.row(r), y.row(r));
    }
  });
}

void CrossLayerBackward(CrossMode mode, ConstMatView x0, ConstMatView xl, ConstMatView w,
                        const CrossLayerCache& cache, ConstMatView dy, MatView dx0, float dx0_beta,
                        MatView dxl, MatView dw, float* db) {
  MOEREC_GPU_DISPATCH(
      x0, gpu::CrossLayerBackward(mode, x0, xl, w, cache, dy, dx0, dx0_beta, dxl, dw, db));
  CheckShapes(mode, x0, xl, w, dy.rows, dy.cols);
  CHECK(dx0.rows == x0.rows && dx0.cols == x0.cols);
  CHECK(dxl.rows == x0.rows && dxl.cols == x0.cols);
  CHECK(dw.rows == w.rows && dw.cols == w.cols);
  CHECK(cache.z.rows() == x0.rows && cache.z.cols() == w.cols) << "cross cache is stale";
  const int64_t d = x0.cols;
  const bool vector = mode == CrossMode::kVector;
  CHECK(!cache.z.on_gpu()) << "cross cache is on a device, the views on the host";
  if (cache.dz.on_gpu()) cache.dz = Tensor(cache.z.shape(), nullptr);
  cache.dz.ResizeLike(cache.z);
  const ConstMatView z = cache.z.view();
  const MatView dz = cache.dz.view();
  ForEachRow(x0.rows, d, [&](int64_t r) {
    const float* g = dy.row(r);
    const float* x0r = x0.row(r);
    float* dzr = dz.row(r);
    float* dxlr = dxl.row(r);
    if (vector) {
      const float s = LaneSum(d, [&](int64_t c) { return g[c] * x0r[c]; });
      dzr[0] = s;
      ScaledRow(d, g, z.row(r), 0, dx0_beta, dx0.row(r));
      for (int64_t c = 0; c < d; ++c) dxlr[c] = g[c] + s * w.data[c * w.ld];
    } else {
      for (int64_t c = 0; c < d; ++c) dzr[c] = g[c] * x0r[c];
      ScaledRow(d, g, z.row(r), 1, dx0_beta, dx0.row(r));
      for (int64_t c = 0; c < d; ++c) dxlr[c] = g[c];
    }
  });
  // dw += xl^T dz in both forms; the matrix form adds dz W^T to dxl.
  Gemm(true, false, 1.0f, xl, dz, 1.0f, dw);
  if (!vector) Gemm(false, true, 1.0f, dz, w, 1.0f, dxl);
  if (db != nullptr) BiasBackward(vector ? dy : ConstMatView(dz), db);
}

}  // namespace moerec
