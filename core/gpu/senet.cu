// CUDA twin of core/senet.h. The two small GEMMs go to cuBLAS; the squeeze (field means), the
// ReLUs, the re-weighting and the input gradient are one body per output element, summing a
// field's k columns in order.
//
// Dimension legend: B rows, S fields, k width per field, S_r bottleneck width.
//   v, dv, out, dout: (B, S*k)  w1, dw1: (S, S_r)  w2, dw2: (S_r, S)
//   cache z, dz, weight (a), dweight: (B, S)  hidden, dhidden: (B, S_r)
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"
#include "core/internal/cache_tensor.h"
#include "core/internal/field_shapes.h"

namespace moerec {
namespace gpu {
namespace {}  // namespace

void SenetForward(ConstMatView v, int num_fields, ConstMatView w1, ConstMatView w2, MatView out,
                  SenetCache* cache) {
  GpuResources* gpu = CommonDevice(v, w1, w2, out);
  const int64_t k = internal::CheckSenetShapes(v, num_fields, w1, w2);
  const int64_t s = num_fields, rows = v.rows;
  CHECK(out.rows == rows && out.cols == v.cols);
  internal::PlaceTensor(&cache->z, {rows, s}, gpu);
  internal::PlaceTensor(&cache->hidden, {rows, w1.cols}, gpu);
  internal::PlaceTensor(&cache->weight, {rows, s}, gpu);
  const float inv_k = 1.0f / static_cast<float>(k);
  const MatView z = cache->z.view(), hidden = cache->hidden.view(), a = cache->weight.view();
  ForEach(gpu, rows * s, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / s, f = i % s;
    const float* x = v.data + r * v.ld + f * k;
    float acc = 0.0f;
    for (int64_t c = 0; c < k; ++c) acc += x[c];
    z.data[r * z.ld + f] = acc * inv_k;
  });
  gpu::Gemm(false, false, 1.0f, z, w1, 0.0f, hidden);
  gpu::ReluForward(hidden, hidden);
  gpu::Gemm(false, false, 1.0f, hidden, w2, 0.0f, a);
  gpu::ReluForward(a, a);
  ForEach(gpu, rows * v.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / v.cols, j = i % v.cols;
    out.data[r * out.ld + j] = a.data[r * a.ld + j / k] * v.data[r * v.ld + j];
  });
}

void SenetBackward(ConstMatView v, ConstMatView w1, ConstMatView w2, const SenetCache& cache,
                   ConstMatView dout, MatView dv, float dv_beta, MatView dw1, MatView dw2) {
  GpuResources* gpu = CommonDevice(v, w1, w2, dout, dv, dw1, dw2);
  const int64_t s = w1.rows;
  const int64_t k = internal::CheckSenetShapes(v, s, w1, w2);
  const int64_t rows = v.rows;
  CHECK(dout.rows == rows && dout.cols == v.cols);
  CHECK(dv.rows == rows && dv.cols == v.cols);
  CHECK(dw1.rows == w1.rows && dw1.cols == w1.cols);
  CHECK(dw2.rows == w2.rows && dw2.cols == w2.cols);
  CHECK(cache.weight.rows() == rows && cache.weight.cols() == s && cache.hidden.cols() == w1.cols)
      << "SENET cache is stale";
  CHECK(cache.weight.gpu() == gpu) << "SENET cache is on another device than the views";
  internal::PlaceTensor(&cache.dz, {rows, s}, gpu);
  internal::PlaceTensor(&cache.dhidden, {rows, w1.cols}, gpu);
  internal::PlaceTensor(&cache.dweight, {rows, s}, gpu);
  const ConstMatView z = cache.z.view(), hidden = cache.hidden.view(), a = cache.weight.view();
  const MatView dz = cache.dz.view(), dhidden = cache.dhidden.view(), da = cache.dweight.view();
  // da[r, f] = <dout, v> over field f, through the outer ReLU.
  ForEach(gpu, rows * s, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / s, f = i % s;
    const float* x = v.data + r * v.ld + f * k;
    const float* g = dout.data + r * dout.ld + f * k;
    float acc = 0.0f;
    for (int64_t c = 0; c < k; ++c) acc += g[c] * x[c];
    da.data[r * da.ld + f] = a.data[r * a.ld + f] > 0.0f ? acc : 0.0f;
  });
  gpu::Gemm(true, false, 1.0f, hidden, da, 1.0f, dw2);
  gpu::Gemm(false, true, 1.0f, da, w2, 0.0f, dhidden);
  gpu::ReluBackward(hidden, dhidden, dhidden);
  gpu::Gemm(true, false, 1.0f, z, dhidden, 1.0f, dw1);
  gpu::Gemm(false, true, 1.0f, dhidden, w1, 0.0f, dz);
  const float inv_k = 1.0f / static_cast<float>(k);
  ForEach(gpu, rows * v.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / v.cols, j = i % v.cols, f = j / k;
    const float grad =
        dout.data[r * dout.ld + j] * a.data[r * a.ld + f] + dz.data[r * dz.ld + f] * inv_k;
    float* d = dv.data + r * dv.ld + j;
    *d = dv_beta == 0.0f ? grad : grad + dv_beta * *d;
  });
}

}  // namespace gpu
}  // namespace moerec
