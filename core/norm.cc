#include "core/norm.h"

#include <algorithm>
#include <cmath>

#include "core/internal/kernel_util.h"
#include "core/parallel.h"

namespace moerec {

using internal::ForEachRow;
using internal::LaneSum;
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
  CHECK(x.rows == y.rows && x.cols == y.cols);
  CHECK_GT(x.cols, 0);
  const int64_t c = x.cols;
  const float inv_c = 1.0f / static_cast<float>(c);
  cache->mean.resize(x.rows);
  cache->rstd.resize(x.rows);
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
    cache->mean[r] = mean;
    cache->rstd[r] = rstd;
    float* yr = y.row(r);
    for (int64_t j = 0; j < c; ++j) yr[j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
  });
}

void LayerNormBackward(ConstMatView x, const float* gamma, const LayerNormCache& cache,
                       ConstMatView dy, MatView dx, float* dgamma, float* dbeta) {
  CHECK(x.rows == dy.rows && x.cols == dy.cols && x.rows == dx.rows && x.cols == dx.cols);
  CHECK_EQ(static_cast<int64_t>(cache.mean.size()), x.rows) << "LayerNorm cache is stale";
  const int64_t c = x.cols;
  const float inv_c = 1.0f / static_cast<float>(c);
  // One pass over the rows: dx row by row; dgamma and dbeta over fixed row blocks.
  // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gamma.
  float* const out[2] = {dgamma, dbeta};
  ReduceRows(x.rows, c, c, out, [&](int64_t r, float* const* acc) {
    const float* xr = x.row(r);
    const float* g = dy.row(r);
    float* d = dx.row(r);
    const float mean = cache.mean[r];
    const float rstd = cache.rstd[r];
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
  GroupBatchNormForward(x, group, state->num_groups, gamma, beta, eps, momentum, training,
                        state->running_mean.data(), state->running_var.data(), y, cache);
}

void GroupBatchNormForward(ConstMatView x, const int32_t* group, int num_groups, const float* gamma,
                           const float* beta, float eps, float momentum, bool training,
                           float* running_mean, float* running_var, MatView y,
                           GroupBatchNormCache* cache, const GroupSum* sum_over_workers) {
  CHECK(x.rows == y.rows && x.cols == y.cols);
  CHECK_GT(num_groups, 0);
  const int64_t c = x.cols;
  const int64_t gc = num_groups * c;
  cache->training = training;
  cache->mean.assign(gc, 0.0f);
  cache->rstd.assign(gc, 0.0f);
  cache->count.assign(num_groups, 0);
  for (int64_t r = 0; r < x.rows; ++r) {
    const int g = group[r];
    CHECK(g >= 0 && g < num_groups)
        << "group " << g << " of row " << r << " out of range [0, " << num_groups << ")";
    ++cache->count[g];
  }
  if (training) {
    // [sums (G, C) | row counts (G) | squared deviations (G, C)]: the first two are summed over
    // the workers in one call when synchronised.
    cache->scratch.assign(2 * gc + num_groups, 0.0);
    double* const sum[1] = {cache->scratch.data()};
    double* const counts = cache->scratch.data() + gc;
    double* const sq[1] = {cache->scratch.data() + gc + num_groups};
    ReduceRows(x.rows, c, gc, sum, [&](int64_t r, double* const* acc) {
      const float* xr = x.row(r);
      double* __restrict s = acc[0] + group[r] * c;
      for (int64_t j = 0; j < c; ++j) s[j] += xr[j];
    });
    if (sum_over_workers != nullptr) {
      for (int g = 0; g < num_groups; ++g) counts[g] = static_cast<double>(cache->count[g]);
      (*sum_over_workers)(sum[0], gc + num_groups);
      for (int g = 0; g < num_groups; ++g) cache->count[g] = std::llround(counts[g]);
    }
    for (int g = 0; g < num_groups; ++g) {
      const int64_t n = cache->count[g];
      if (n == 0) continue;
      for (int64_t j = 0; j < c; ++j) {
        cache->mean[g * c + j] = static_cast<float>(sum[0][g * c + j] / static_cast<double>(n));
      }
    }
    // Two passes (mean, then squared deviations) for accuracy.
    ReduceRows(x.rows, c, gc, sq, [&](int64_t r, double* const* acc) {
      const float* xr = x.row(r);
      const float* m = &cache->mean[group[r] * c];
      double* __restrict q = acc[0] + group[r] * c;
      for (int64_t j = 0; j < c; ++j) {
        const double d = static_cast<double>(xr[j]) - m[j];
        q[j] += d * d;
      }
    });
    if (sum_over_workers != nullptr) (*sum_over_workers)(sq[0], gc);
    for (int g = 0; g < num_groups; ++g) {
      const int64_t n = cache->count[g];
      if (n == 0) continue;
      float* rm = running_mean + g * c;
      float* rv = running_var + g * c;
      for (int64_t j = 0; j < c; ++j) {
        const double var = sq[0][g * c + j] / static_cast<double>(n);
        cache->rstd[g * c + j] = static_cast<float>(1.0 / std::sqrt(var + eps));
        rm[j] = (1.0f - momentum) * rm[j] + momentum * cache->mean[g * c + j];
        if (n > 1) {
          const float unbiased = static_cast<float>(var * n / (n - 1));
          rv[j] = (1.0f - momentum) * rv[j] + momentum * unbiased;
        }
      }
    }
  } else {
    for (int64_t i = 0; i < gc; ++i) {
      cache->mean[i] = running_mean[i];
      cache->rstd[i] = 1.0f / std::sqrt(running_var[i] + eps);
    }
  }
  ForEachRow(x.rows, c, [&](int64_t r) {
    const int64_t off = group[r] * c;
    const float* xr = x.row(r);
    const float* m = &cache->mean[off];
    const float* s = &cache->rstd[off];
    const float* ga = gamma + off;
    const float* be = beta + off;
    float* yr = y.row(r);
    for (int64_t j = 0; j < c; ++j) yr[j] = (xr[j] - m[j]) * s[j] * ga[j] + be[j];
  });
}

void GroupBatchNormBackward(ConstMatView x, const int32_t* group, const float* gamma,
                            const GroupBatchNormCache& cache, ConstMatView dy, MatView dx,
                            float* dgamma, float* dbeta, const GroupSum* sum_over_workers) {
  CHECK(x.rows == dy.rows && x.cols == dy.cols && x.rows == dx.rows && x.cols == dx.cols);
  const int64_t c = x.cols;
  const int num_groups = static_cast<int>(cache.count.size());
  const int64_t gc = num_groups * c;
  CHECK_EQ(static_cast<int64_t>(cache.mean.size()), gc) << "GroupBatchNorm cache is stale";
  // Per (group, column): sum of dy and of dy * xhat, over fixed row blocks.
  cache.scratch.assign(2 * gc, 0.0);
  double* const sums[2] = {cache.scratch.data(), cache.scratch.data() + gc};
  ReduceRows(x.rows, c, gc, sums, [&](int64_t r, double* const* acc) {
    const int64_t off = group[r] * c;
    const float* xr = x.row(r);
    const float* gr = dy.row(r);
    const float* m = &cache.mean[off];
    const float* s = &cache.rstd[off];
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
    if (cache.count[g] == 0) continue;
    for (int64_t j = 0; j < c; ++j) {
      dbeta[g * c + j] += static_cast<float>(sum_dy[g * c + j]);
      dgamma[g * c + j] += static_cast<float>(sum_dy_xhat[g * c + j]);
    }
  }
  // dx's mean terms are the global batch's (the parameter gradients above stay this worker's).
  if (sum_over_workers != nullptr && cache.training) {
    (*sum_over_workers)(cache.scratch.data(), 2 * gc);
  }
  ForEachRow(x.rows, c, [&](int64_t r) {
    const int g = group[r];
    const int64_t off = g * c;
    const float* xr = x.row(r);
    const float* gr = dy.row(r);
    const float* m = &cache.mean[off];
    const float* s = &cache.rstd[off];
    const float* ga = gamma + off;
    float* d = dx.row(r);
    if (!cache.training) {
      for (int64_t j = 0; j < c; ++j) d[j] = gr[j] * ga[j] * s[j];
      return;
    }
    // dx = rstd * gamma * (dy - mean(dy) - xhat * mean(dy * xhat)), means over the group.
    const double inv_n = 1.0 / static_cast<double>(cache.count[g]);
    for (int64_t j = 0; j < c; ++j) {
      const float xhat = (xr[j] - m[j]) * s[j];
      const float m1 = static_cast<float>(sum_dy[off + j] * inv_n);
      const float m2 = static_cast<float>(sum_dy_xhat[off + j] * inv_n);
      d[j] = s[j] * ga[j] * (gr[j] - m1 - xhat * m2);
    }
  });
}

void L2NormalizeForward(ConstMatView x, float eps, MatView y, std::vector<float>* rnorm) {
  rnorm->resize(x.rows);
  ParallelFor(x.rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x.row(r);
      double ss = 0.0;
      for (int64_t c = 0; c < x.cols; ++c) ss += static_cast<double>(xr[c]) * xr[c];
      const float inv = static_cast<float>(1.0 / std::max(std::sqrt(ss), static_cast<double>(eps)));
      (*rnorm)[r] = inv;
      float* yr = y.row(r);
      for (int64_t c = 0; c < x.cols; ++c) yr[c] = xr[c] * inv;
    }
  });
}

void L2NormalizeBackward(ConstMatView y, const std::vector<float>& rnorm, float eps,
                         ConstMatView dy, MatView dx) {
  ParallelFor(y.rows, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* yr = y.row(r);
      const float* g = dy.row(r);
      float* d = dx.row(r);
      // Below eps the forward was x / eps, a plain scaling.
      const bool clamped = rnorm[r] >= 1.0f / eps;
      double dot = 0.0;
      if (!clamped) {
        for (int64_t c = 0; c < y.cols; ++c) dot += static_cast<double>(g[c]) * yr[c];
      }
      const float dotf = static_cast<float>(dot);
      for (int64_t c = 0; c < y.cols; ++c) d[c] = rnorm[r] * (g[c] - yr[c] * dotf);
    }
  });
}

}  // namespace moerec
