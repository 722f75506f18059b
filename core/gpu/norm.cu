// CUDA twins of core/norm.h. Dimension legend: B rows, C channels, G groups.
//   x, y, dx, dy: (B, C)   gamma, beta: (C) for LayerNorm, (G, C) for GroupBatchNorm
//   group: (B) int32 on the device; running statistics, dgamma, dbeta on the device too.
// Gradient rule: parameter gradients accumulate (dgamma +=, dbeta +=); dx is written.
//
// Row statistics (LayerNorm, L2Normalize) are one body per row; LayerNorm's row sums use the
// CPU kernel's 16-lane order (internal::LaneSum), so they round alike. Per-column reductions
// over rows (dgamma, dbeta, a group's sums) are one body per output walking the rows in order;
// a group's body skips the rows of other groups, so every row is read once per group (G is a
// domain count: small). All sums are in a fixed order: results are deterministic.
// Synchronised GroupBatchNorm: the partial sums are copied to the host, GroupSum runs there and
// the totals are copied back (CopySync: the host waits for the device at each exchange, as the
// all-reduce must).
#include <cmath>
#include <vector>

#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"
#include "core/internal/cache_tensor.h"

namespace moerec {
namespace gpu {
namespace {

using internal::PlaceDoubles;
using internal::PlaceTensor;

constexpr int kLanes = 16;  // internal::kLanes of core/internal/kernel_util.h

// internal::LaneSum's order: 16 running partial sums, then the lanes in index order.
template <class Term>
__host__ __device__ float LaneSum(int64_t n, Term term) {
  float acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) acc[l] += term(j + l);
  }
  for (int l = 0; j < n; ++j, ++l) acc[l] += term(j);
  float total = 0.0f;
  for (int l = 0; l < kLanes; ++l) total += acc[l];
  return total;
}

// Hands a device array of n doubles to the workers' sum (core/norm.h GroupSum) through the host.
void SumOverWorkers(GpuResources* gpu, const GroupSum& sum, double* data, int64_t n) {
  std::vector<double> host(n);
  if (n > 0) gpu->CopySync(host.data(), data, n * sizeof(double), GpuResources::kDeviceToHost);
  sum(host.data(), n);
  if (n > 0) gpu->CopySync(data, host.data(), n * sizeof(double), GpuResources::kHostToDevice);
}

}  // namespace

void LayerNormForward(ConstMatView x, const float* gamma, const float* beta, float eps, MatView y,
                      LayerNormCache* cache) {
  CHECK(x.rows == y.rows && x.cols == y.cols);
  CHECK_GT(x.cols, 0);
  GpuResources* gpu = CommonDevice(x, y);
  PlaceTensor(&cache->mean, {x.rows}, gpu);
  PlaceTensor(&cache->rstd, {x.rows}, gpu);
  float* const mean = cache->mean.data();
  float* const rstd = cache->rstd.data();
  const int64_t c = x.cols;
  const float inv_c = 1.0f / static_cast<float>(c);
  ForEach(gpu, x.rows, [=] __host__ __device__(int64_t r) {
    const float* xr = x.data + r * x.ld;
    const float m = LaneSum(c, [=](int64_t j) { return xr[j]; }) * inv_c;
    const float var = LaneSum(c,
                              [=](int64_t j) {
                                const float d = xr[j] - m;
                                return d * d;
                              }) *
                      inv_c;
    mean[r] = m;
    rstd[r] = 1.0f / sqrtf(var + eps);
  });
  ForEach(gpu, x.rows * c, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / c, j = i % c;
    y.data[r * y.ld + j] = (x.data[r * x.ld + j] - mean[r]) * rstd[r] * gamma[j] + beta[j];
  });
}

void LayerNormBackward(ConstMatView x, const float* gamma, const LayerNormCache& cache,
                       ConstMatView dy, MatView dx, float* dgamma, float* dbeta) {
  CHECK(x.rows == dy.rows && x.cols == dy.cols && x.rows == dx.rows && x.cols == dx.cols);
  CHECK_EQ(cache.mean.size(), x.rows) << "LayerNorm cache is stale";
  GpuResources* gpu = CommonDevice(x, dy, dx);
  CHECK(cache.mean.gpu() == gpu) << "LayerNorm cache filled on another device";
  const float* const mean = cache.mean.data();
  const float* const rstd = cache.rstd.data();
  const int64_t c = x.cols;
  const float inv_c = 1.0f / static_cast<float>(c);
  // dgamma += sum_r dy * xhat, dbeta += sum_r dy: one body per column.
  ForEach(gpu, c, [=] __host__ __device__(int64_t j) {
    float sg = 0.0f, sb = 0.0f;
    for (int64_t r = 0; r < x.rows; ++r) {
      const float g = dy.data[r * dy.ld + j];
      sg += g * ((x.data[r * x.ld + j] - mean[r]) * rstd[r]);
      sb += g;
    }
    dgamma[j] += sg;
    dbeta[j] += sb;
  });
  // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gamma: one body
  // per row (its two means, then the row).
  ForEach(gpu, x.rows, [=] __host__ __device__(int64_t r) {
    const float* xr = x.data + r * x.ld;
    const float* g = dy.data + r * dy.ld;
    float* d = dx.data + r * dx.ld;
    const float m = mean[r], s = rstd[r];
    const float m1 = LaneSum(c, [=](int64_t j) { return g[j] * gamma[j]; }) * inv_c;
    const float m2 =
        LaneSum(c, [=](int64_t j) { return g[j] * gamma[j] * ((xr[j] - m) * s); }) * inv_c;
    for (int64_t j = 0; j < c; ++j) {
      const float xhat = (xr[j] - m) * s;
      d[j] = s * (g[j] * gamma[j] - m1 - xhat * m2);
    }
  });
}

void GroupBatchNormForward(ConstMatView x, const int32_t* group, int num_groups, const float* gamma,
                           const float* beta, float eps, float momentum, bool training,
                           float* running_mean, float* running_var, MatView y,
                           GroupBatchNormCache* cache, const GroupSum* sum_over_workers) {
  CHECK(x.rows == y.rows && x.cols == y.cols);
  CHECK_GT(num_groups, 0);
  GpuResources* gpu = CommonDevice(x, y);
  const int64_t rows = x.rows, c = x.cols;
  const int64_t gc = num_groups * c;
  cache->training = training;
  PlaceTensor(&cache->mean, {num_groups, c}, gpu);
  PlaceTensor(&cache->rstd, {num_groups, c}, gpu);
  PlaceTensor(&cache->count, {num_groups}, gpu);
  float* const mean = cache->mean.data();
  float* const rstd = cache->rstd.data();
  float* const count = cache->count.data();
  // [sums (G, C) | row counts (G) | squared deviations (G, C)], as the CPU kernel: the first two
  // are summed over the workers in one exchange when synchronised.
  double* const scratch = PlaceDoubles(&cache->scratch, 2 * gc + num_groups, gpu);
  double* const sum = scratch;
  double* const counts = scratch + gc;
  double* const sq = scratch + gc + num_groups;
  ForEach(gpu, num_groups, [=] __host__ __device__(int64_t g) {
    int64_t n = 0;
    for (int64_t r = 0; r < rows; ++r) n += group[r] == g ? 1 : 0;
    counts[g] = static_cast<double>(n);
    count[g] = static_cast<float>(n);
  });
  if (training) {
    ForEach(gpu, gc, [=] __host__ __device__(int64_t i) {
      const int64_t g = i / c, j = i % c;
      double s = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        if (group[r] == g) s += x.data[r * x.ld + j];
      }
      sum[i] = s;
    });
    if (sum_over_workers != nullptr) {
      SumOverWorkers(gpu, *sum_over_workers, sum, gc + num_groups);
      ForEach(gpu, num_groups, [=] __host__ __device__(int64_t g) {
        count[g] = static_cast<float>(llround(counts[g]));
      });
    }
    // The mean of (g, j), then the squared deviations from it (two passes, for accuracy).
    ForEach(gpu, gc, [=] __host__ __device__(int64_t i) {
      const int64_t g = i / c, j = i % c;
      const int64_t n = static_cast<int64_t>(count[g]);
      const float m = n == 0 ? 0.0f : static_cast<float>(sum[i] / static_cast<double>(n));
      mean[i] = m;
      double q = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        if (group[r] != g) continue;
        const double d = static_cast<double>(x.data[r * x.ld + j]) - m;
        q += d * d;
      }
      sq[i] = q;
    });
    if (sum_over_workers != nullptr) SumOverWorkers(gpu, *sum_over_workers, sq, gc);
    ForEach(gpu, gc, [=] __host__ __device__(int64_t i) {
      const int64_t n = static_cast<int64_t>(count[i / c]);
      if (n == 0) {
        rstd[i] = 0.0f;  // a group absent from the batch keeps its running statistics
        return;
      }
      const double var = sq[i] / static_cast<double>(n);
      rstd[i] = static_cast<float>(1.0 / sqrt(var + eps));
      running_mean[i] = (1.0f - momentum) * running_mean[i] + momentum * mean[i];
      if (n > 1) {
        const float unbiased = static_cast<float>(var * n / (n - 1));
        running_var[i] = (1.0f - momentum) * running_var[i] + momentum * unbiased;
      }
    });
  } else {
    ForEach(gpu, gc, [=] __host__ __device__(int64_t i) {
      mean[i] = running_mean[i];
      rstd[i] = 1.0f / sqrtf(running_var[i] + eps);
    });
  }
  ForEach(gpu, rows * c, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / c, j = i % c;
    const int64_t k = group[r] * c + j;
    y.data[r * y.ld + j] = (x.data[r * x.ld + j] - mean[k]) * rstd[k] * gamma[k] + beta[k];
  });
}

void GroupBatchNormBackward(ConstMatView x, const int32_t* group, const float* gamma,
                            const GroupBatchNormCache& cache, ConstMatView dy, MatView dx,
                            float* dgamma, float* dbeta, const GroupSum* sum_over_workers) {
  CHECK(x.rows == dy.rows && x.cols == dy.cols && x.rows == dx.rows && x.cols == dx.cols);
  GpuResources* gpu = CommonDevice(x, dy, dx);
  const int64_t rows = x.rows, c = x.cols;
  const int num_groups = static_cast<int>(cache.count.size());
  const int64_t gc = num_groups * c;
  CHECK_EQ(cache.mean.size(), gc) << "GroupBatchNorm cache is stale";
  CHECK(cache.mean.gpu() == gpu) << "GroupBatchNorm cache filled on another device";
  const float* const mean = cache.mean.data();
  const float* const rstd = cache.rstd.data();
  const float* const count = cache.count.data();
  const bool training = cache.training;
  // Per (group, column): sum of dy and of dy * xhat; this worker's part goes to dbeta, dgamma.
  double* const sums = PlaceDoubles(&cache.scratch, 2 * gc, gpu);
  ForEach(gpu, gc, [=] __host__ __device__(int64_t i) {
    const int64_t g = i / c, j = i % c;
    const float m = mean[i], s = rstd[i];
    double s_dy = 0.0, s_dy_xhat = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      if (group[r] != g) continue;
      const float gr = dy.data[r * dy.ld + j];
      const float xhat = (x.data[r * x.ld + j] - m) * s;
      s_dy += gr;
      s_dy_xhat += gr * xhat;
    }
    sums[i] = s_dy;
    sums[gc + i] = s_dy_xhat;
    if (count[g] != 0.0f) {
      dbeta[i] += static_cast<float>(s_dy);
      dgamma[i] += static_cast<float>(s_dy_xhat);
    }
  });
  // dx's mean terms are the global batch's (the parameter gradients above stay this worker's).
  if (sum_over_workers != nullptr && training) {
    SumOverWorkers(gpu, *sum_over_workers, sums, 2 * gc);
  }
  ForEach(gpu, rows * c, [=] __host__ __device__(int64_t e) {
    const int64_t r = e / c, j = e % c;
    const int64_t g = group[r];
    const int64_t i = g * c + j;
    const float gr = dy.data[r * dy.ld + j];
    const float s = rstd[i];
    float* d = dx.data + r * dx.ld + j;
    if (!training) {
      *d = gr * gamma[i] * s;
      return;
    }
    // dx = rstd * gamma * (dy - mean(dy) - xhat * mean(dy * xhat)), means over the group.
    const double inv_n = 1.0 / static_cast<double>(count[g]);
    const float xhat = (x.data[r * x.ld + j] - mean[i]) * s;
    const float m1 = static_cast<float>(sums[i] * inv_n);
    const float m2 = static_cast<float>(sums[gc + i] * inv_n);
    *d = s * gamma[i] * (gr - m1 - xhat * m2);
  });
}

void L2NormalizeForward(ConstMatView x, float eps, MatView y, Tensor* rnorm) {
  CHECK(x.rows == y.rows && x.cols == y.cols);
  GpuResources* gpu = CommonDevice(x, y);
  PlaceTensor(rnorm, {x.rows}, gpu);
  float* const inv_norm = rnorm->data();
  ForEach(gpu, x.rows, [=] __host__ __device__(int64_t r) {
    const float* xr = x.data + r * x.ld;
    double ss = 0.0;
    for (int64_t c = 0; c < x.cols; ++c) ss += static_cast<double>(xr[c]) * xr[c];
    const float inv = static_cast<float>(1.0 / fmax(sqrt(ss), static_cast<double>(eps)));
    inv_norm[r] = inv;
    float* yr = y.data + r * y.ld;
    for (int64_t c = 0; c < x.cols; ++c) yr[c] = xr[c] * inv;
  });
}

void L2NormalizeBackward(ConstMatView y, const Tensor& rnorm, float eps, ConstMatView dy,
                         MatView dx) {
  CHECK(y.rows == dy.rows && y.cols == dy.cols && y.rows == dx.rows && y.cols == dx.cols);
  CHECK_EQ(rnorm.size(), y.rows) << "L2Normalize rnorm is stale";
  GpuResources* gpu = CommonDevice(y, dy, dx);
  CHECK(rnorm.gpu() == gpu) << "L2Normalize rnorm filled on another device";
  const float* const inv_norm = rnorm.data();
  ForEach(gpu, y.rows, [=] __host__ __device__(int64_t r) {
    const float* yr = y.data + r * y.ld;
    const float* g = dy.data + r * dy.ld;
    float* d = dx.data + r * dx.ld;
    // Below eps the forward was x / eps, a plain scaling.
    const bool clamped = inv_norm[r] >= 1.0f / eps;
    double dot = 0.0;
    if (!clamped) {
      for (int64_t c = 0; c < y.cols; ++c) dot += static_cast<double>(g[c]) * yr[c];
    }
    const float dotf = static_cast<float>(dot);
    for (int64_t c = 0; c < y.cols; ++c) d[c] = inv_norm[r] * (g[c] - yr[c] * dotf);
  });
}

}  // namespace gpu
}  // namespace moerec
