#include "core/norm.h"

#include <algorithm>
#include <cmath>

#include "core/internal/cache_tensor.h"
#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/parallel.h"

namespace moerec {

using internal::ForEachRow;
using internal::LaneSum;
using internal::PlaceDoubles;
using internal::PlaceTensor;
using internal::ReduceRows;

namespace {

// One row of LayerNormBackward (restrict parameters, so that the loop vectorises):
// dgamma += dy * xhat, dbeta += dy, dx = rstd * (dy * gamma - m1 - xhat * m2).
void LayerNormBackwardRow(int64_t n, const float* __restrict x, const float* __restrict dy,
                          const float* __restrict gamma, float mean, float rstd, float m1, float m2,
                          float* __restrict dgamma, float* __restrict dbeta, float* __restrict dx) {
  for (int64_t j = 0; j < n; ++j) {
    const float xhat = (x[j] - mean) * rstd;
    dgamma[j] += dy[j] * xhat;
    dbeta[j] += dy[j];
    dx[j] = rstd * (dy[j] * gamma[j] - m1 - xhat * m2);
  }
}

}  // namespace

void LayerNormForward(ConstMatView x, const float* gamma, const float* beta, float eps, MatView y,
                      LayerNormCache* cache) {
  MOEREC_GPU_DISPATCH(x, gpu::LayerNormForward(x, gamma, beta, eps, y, cache));
  CHECK(x.rows == y.rows && x.cols == y.cols);
  CHECK_GT(x.cols, 0);
  const int64_t c = x.cols;
  const float inv_c = 1.0f / static_cast<float>(c);
  PlaceTensor(&cache->mean, {x.rows}, nullptr);
  PlaceTensor(&cache->rstd, {x.rows}, nullptr);
  float* const cache_mean = cache->mean.data();
  float* const cache_rstd = cache->rstd.data();
  ForEachRow(x.rows, c, [&](int64_t r) {
    const float* xr = x.row(r);
    const float mean = LaneSum(c, [&](int64_t j) { return xr[j]; }) * inv_c;
    const float var = LaneSum(c,
                              [&](int64_t j) {
                                const float d = xr[j] - mean;
                                return d * d;
                              }) *
                      inv_c;
    const float rstd = 1.0f / std::sqrt(var + eps);
    cache_mean[r] = mean;
    cache_rstd[r] = rstd;
    float* yr = y.row(r);
    for (int64_t j = 0; j < c; ++j) yr[j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
  });
}

void LayerNormBackward(ConstMatView x, const float* gamma, const LayerNormCache& cache,
                       ConstMatView dy, MatView dx, float* dgamma, float* dbeta) {
  MOEREC_GPU_DISPATCH(x, gpu::LayerNormBackward(x, gamma, cache, dy, dx, dgamma, dbeta));
  CHECK(x.rows == dy.rows && x.cols == dy.cols && x.rows == dx.rows && x.cols == dx.cols);
  CHECK_EQ(cache.mean.size(), x.rows) << "LayerNorm cache is stale";
  CHECK(!cache.mean.on_gpu()) << "LayerNorm cache filled on a device";
  const float* const cache_mean = cache.mean.data();
  const float* const cache_rstd = cache.rstd.data();
  const int64_t c = x.cols;
  const float inv_c = 1.0f / static_cast<float>(c);
  // One pass over the rows: dx row by row; dgamma and dbeta over fixed row blocks.
  // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gamma.
  float* const out[2] = {dgamma, dbeta};
  ReduceRows(x.rows, c, c, out, [&](int64_t r, float* const* acc) {
    const float* xr = x.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    const float mean = cache_mean[r];
    const float rstd = cache_rstd[r];
    const float m1 = LaneSum(c, [&](int64_t j) { return g[j] * gamma[j]; }) * inv_c;
    const float m2 =
        LaneSum(c, [&](int64_t j) { return g[j] * gamma[j] * ((xr[j] - mean) * rstd); }) * inv_c;
    LayerNormBackwardRow(c, xr, g, gamma, mean, rstd, m1, m2, acc[0], acc[1], d);
  });
}

void GroupBatchNormState::Init(int groups, int64_t channels) {
  num_groups = groups;
  running_mean.Resize({groups, channels});
  running_mean.Zero();
  running_var.Resize({groups, channels});
  running_var.Fill(1.0f);
}

void GroupBatchNormForward(ConstMatView x, const int32_t* group, const float* gamma,
                           const float* beta, float eps, float momentum, bool training,
                           GroupBatchNormState* state, MatView y, GroupBatchNormCache* cache) {
  CHECK_EQ(state->running_mean.size(), int64_t{state->num_groups} * x.cols);
  CHECK_EQ(state->running_var.size(), int64_t{state->num_groups} * x.cols);
  CHECK(state->running_mean.gpu() == x.gpu && state->running_var.gpu() == x.gpu)
      << "GroupBatchNorm running statistics on another device than x";
  GroupBatchNormForward(x, group, state->num_groups, gamma, beta, eps, momentum, training,
                        state->running_mean.data(), state->running_var.data(), y, cache);
}

void GroupBatchNormForward(ConstMatView x, const int32_t* group, int num_groups, const float* gamma,
                           const float* beta, float eps, float momentum, bool training,
                           float* running_mean, float* running_var, MatView y,
                           GroupBatchNormCache* cache, const GroupSum* sum_over_workers) {
  MOEREC_GPU_DISPATCH(
      x, gpu::GroupBatchNormForward(x, group, num_groups, gamma, beta, eps, momentum, training,
                                    running_mean, running_var, y, cache, sum_over_workers));
  CHECK(x.rows == y.rows && x.cols == y.cols);
  CHECK_GT(num_groups, 0);
  const int64_t c = x.cols;
  const int64_t gc = num_groups * c;
  cache->training = training;
  PlaceTensor(&cache->mean, {num_groups, c}, nullptr);
  PlaceTensor(&cache->rstd, {num_groups, c}, nullptr);
  PlaceTensor(&cache->count, {num_groups}, nullptr);
  cache->mean.Zero();
  cache->rstd.Zero();
  cache->count.Zero();
  float* const mean = cache->mean.data();
  float* const rstd = cache->rstd.data();
  float* const count = cache->count.data();
  for (int64_t r = 0; r < x.rows; ++r) {
    const int g = group[r];
    CHECK(g >= 0 && g < num_groups)
        << "group " << g << " of row " << r << " out of range [0, " << num_groups << ")";
    count[g] += 1.0f;
  }
  if (training) {
    // [sums (G, C) | row counts (G) | squared deviations (G, C)]: the first two are summed over
    // the workers in one call when synchronised.
    double* const scratch = PlaceDoubles(&cache->scratch, 2 * gc + num_groups, nullptr);
    std::fill_n(scratch, 2 * gc + num_groups, 0.0);
    double* const sum[1] = {scratch};
    double* const counts = scratch + gc;
    double* const sq[1] = {scratch + gc + num_groups};
    ReduceRows(x.rows, c, gc, sum, [&](int64_t r, double* const* acc) {
      const float* xr = x.row(r);
      double* __restrict s = acc[0] + group[r] * c;
      for (int64_t j = 0; j < c; ++j) s[j] += xr[j];
    });
    if (sum_over_workers != nullptr) {
      for (int g = 0; g < num_groups; ++g) counts[g] = count[g];
      (*sum_over_workers)(sum[0], gc + num_groups);
      for (int g = 0; g < num_groups; ++g) count[g] = static_cast<float>(std::llround(counts[g]));
    }
    for (int g = 0; g < num_groups; ++g) {
      const int64_t n = static_cast<int64_t>(count[g]);
      if (n == 0) continue;
      for (int64_t j = 0; j < c; ++j) {
        mean[g * c + j] = static_cast<float>(sum[0][g * c + j] / static_cast<double>(n));
      }
    }
    // Two passes (mean, then squared deviations) for accuracy.
    ReduceRows(x.rows, c, gc, sq, [&](int64_t r, double* const* acc) {
      const float* xr = x.row(r);
      const float* m = mean + group[r] * c;
      double* __restrict q = acc[0] + group[r] * c;
      for (int64_t j = 0; j < c; ++j) {
        const double d = static_cast<double>(xr[j]) - m[j];
        q[j] += d * d;
      }
    });
    if (sum_over_workers != nullptr) (*sum_over_workers)(sq[0], gc);
    for (int g = 0; g < num_groups; ++g) {
      const int64_t n = static_cast<int64_t>(count[g]);
      if (n == 0) continue;
      float* rm = running_mean + g * c;
      float* rv = running_var + g * c;
      for (int64_t j = 0; j < c; ++j) {
        const double var = sq[0][g * c + j] / static_cast<double>(n);
        rstd[g * c + j] = static_cast<float>(1.0 / std::sqrt(var + eps));
        rm[j] = (1.0f - momentum) * rm[j] + momentum * mean[g * c + j];
        if (n > 1) {
          const float unbiased = static_cast<float>(var * n / (n - 1));
          rv[j] = (1.0f - momentum) * rv[j] + momentum * unbiased;
        }
      }
    }
  } else {
    for (int64_t i = 0; i < gc; ++i) {
      mean[i] = running_mean[i];
      rstd[i] = 1.0f / std::sqrt(running_var[i] + eps);
    }
  }
  ForEachRow(x.rows, c, [&](int64_t r) {
    const int64_t off = group[r] * c;
    const float* xr = x.row(r);
    const float* m = mean + off;
    const float* s = rstd + off;
    const float* ga = gamma + off;
    const float* be = beta + off;
    float* yr = y.row(r);
    for (int64_t j = 0; j < c; ++j) yr[j] = (xr[j] - m[j]) * s[j] * ga[j] + be[j];
  });
}

void GroupBatchNormBackward(ConstMatView x, const int32_t* group, const float* gamma,
                            const GroupBatchNormCache& cache, ConstMatView dy, MatView dx,
                            float* dgamma, float* dbeta, const GroupSum* sum_over_workers) {
  MOEREC_GPU_DISPATCH(x, gpu::GroupBatchNormBackward(x, group, gamma, cache, dy, dx, dgamma, dbeta,
                                                     sum_over_workers));
  CHECK(x.rows == dy.rows && x.cols == dy.cols && x.rows == dx.rows && x.cols == dx.cols);
  const int64_t c = x.cols;
  const int num_groups = static_cast<int>(cache.count.size());
  const int64_t gc = num_groups * c;
  CHECK_EQ(cache.mean.size(), gc) << "GroupBatchNorm cache is stale";
  CHECK(!cache.mean.on_gpu()) << "GroupBatchNorm cache filled on a device";
  const float* const mean = cache.mean.data();
  const float* const rstd = cache.rstd.data();
  const float* const count = cache.count.data();
  // Per (group, column): sum of dy and of dy * xhat, over fixed row blocks.
  double* const scratch = PlaceDoubles(&cache.scratch, 2 * gc, nullptr);
  std::fill_n(scratch, 2 * gc, 0.0);
  double* const sums[2] = {scratch, scratch + gc};
  ReduceRows(x.rows, c, gc, sums, [&](int64_t r, double* const* acc) {
    const int64_t off = group[r] * c;
    const float* xr = x.row(r);
    const float* gr = dy.row(r);
    const float* m = mean + off;
    const float* s = rstd + off;
    double* __restrict s_dy = acc[0] + off;
    double* __restrict s_dy_xhat = acc[1] + off;
    for (int64_t j = 0; j < c; ++j) {
      const float xhat = (xr[j] - m[j]) * s[j];
      s_dy[j] += gr[j];
      s_dy_xhat[j] += gr[j] * xhat;
    }
  });
  const double* sum_dy = sums[0];
  const double* sum_dy_xhat = sums[1];
  for (int g = 0; g < num_groups; ++g) {
    if (count[g] == 0.0f) continue;
    for (int64_t j = 0; j < c; ++j) {
      dbeta[g * c + j] += static_cast<float>(sum_dy[g * c + j]);
      dgamma[g * c + j] += static_cast<float>(sum_dy_xhat[g * c + j]);
    }
  }
  // dx's mean terms are the global batch's (the parameter gradients above stay this worker's).
  if (sum_over_workers != nullptr && cache.training) (*sum_over_workers)(scratch, 2 * gc);
  ForEachRow(x.rows, c, [&](int64_t r) {
    const int g = group[r];
    const int64_t off = g * c;
    const float* xr = x.row(r);
    const float* gr = dy.row(r);
    const float* m = mean + off;
    const float* s = rstd + off;
    const float* ga = gamma + off;
    float* d = dx.row(r);
    if (!cache.training) {
      for (int64_t j = 0; j < c; ++j) d[j] = gr[j] * ga[j] * s[j];
      return;
    }
    // dx = rstd * gamma * (dy - mean(dy) - xhat * mean(dy * xhat)), means over the group.
    const double inv_n = 1.0 / static_cast<double>(count[g]);
    for (int64_t j = 0; j < c; ++j) {
      const float xhat = (xr[j] - m[j]) * s[j];
      const float m1 = static_cast<float>(sum_dy[off + j] * inv_n);
      const float m2 = static_cast<float>(sum_dy_xhat[off + j] * inv_n);
      d[j] = s[j] * ga[j] * (gr[j] - m1 - xhat * m2);
    }
  });
}

void L2NormalizeForward(ConstMatView x, float eps, MatView y, Tensor* rnorm) {
  MOEREC_GPU_DISPATCH(x, gpu::L2NormalizeForward(x, eps, y, rnorm));
  PlaceTensor(rnorm, {x.rows}, nullptr);
  float* const inv_norm = rnorm->data();
  ParallelFor(x.rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x.row(r);
      double ss = 0.0;
      for (int64_t c = 0; c < x.cols; ++c) ss += static_cast<double>(xr[c]) * xr[c];
      const float inv = static_cast<float>(1.0 / std::max(std::sqrt(ss), static_cast<double>(eps)));
      inv_norm[r] = inv;
      float* yr = y.row(r);
      for (int64_t c = 0; c < x.cols; ++c) yr[c] = xr[c] * inv;
    }
  });
}

void L2NormalizeBackward(ConstMatView y, const Tensor& rnorm, float eps, ConstMatView dy,
                         MatView dx) {
  MOEREC_GPU_DISPATCH(y, gpu::L2NormalizeBackward(y, rnorm, eps, dy, dx));
  CHECK_EQ(rnorm.size(), y.rows) << "L2Normalize rnorm is stale";
  CHECK(!rnorm.on_gpu()) << "L2Normalize rnorm filled on a device";
  const float* const inv_norm = rnorm.data();
  ParallelFor(y.rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* yr = y.row(r);
      const float* g = dy.row(r);
      float* d = dx.row(r);
      // Below eps the forward was x / eps, a plain scaling.
      const bool clamped = inv_norm[r] >= 1.0f / eps;
      double dot = 0.0;
      if (!clamped) {
        for (int64_t c = 0; c < y.cols; ++c) dot += static_cast<double>(g[c]) * yr[c];
      }
      const float dotf = static_cast<float>(dot);
      for (int64_t c = 0; c < y.cols; ++c) d[c] = inv_norm[r] * (g[c] - yr[c] * dotf);
    }
  });
}

}  // namespace moerec
