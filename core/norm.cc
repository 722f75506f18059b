#include "core/norm.h"

#include <cmath>

#include "core/parallel.h"

namespace moerec {

void LayerNormForward(ConstMatView x, const float* gamma, const float* beta, float eps,
                      MatView y, LayerNormCache* cache) {
  const int64_t c = x.cols;
  cache->mean.resize(x.rows);
  cache->rstd.resize(x.rows);
  ParallelFor(x.rows, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x.row(r);
      double sum = 0.0;
      for (int64_t j = 0; j < c; ++j) sum += xr[j];
      const float mean = static_cast<float>(sum / c);
      double sq = 0.0;
      for (int64_t j = 0; j < c; ++j) {
        const float d = xr[j] - mean;
        sq += d * d;
      }
      const float rstd = 1.0f / std::sqrt(static_cast<float>(sq / c) + eps);
      cache->mean[r] = mean;
      cache->rstd[r] = rstd;
      float* yr = y.row(r);
      for (int64_t j = 0; j < c; ++j) yr[j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
    }
  });
}

void LayerNormBackward(ConstMatView x, const float* gamma, const LayerNormCache& cache,
                       ConstMatView dy, MatView dx, float* dgamma, float* dbeta) {
  const int64_t c = x.cols;
  // Parameter gradients: serial over rows for a deterministic summation order.
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* xr = x.row(r);
    const float* g = dy.row(r);
    const float mean = cache.mean[r];
    const float rstd = cache.rstd[r];
    for (int64_t j = 0; j < c; ++j) {
      dgamma[j] += g[j] * (xr[j] - mean) * rstd;
      dbeta[j] += g[j];
    }
  }
  ParallelFor(x.rows, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x.row(r);
      const float* g = dy.row(r);
      float* d = dx.row(r);
      const float mean = cache.mean[r];
      const float rstd = cache.rstd[r];
      double sum_dxhat = 0.0;
      double sum_dxhat_xhat = 0.0;
      for (int64_t j = 0; j < c; ++j) {
        const float dxhat = g[j] * gamma[j];
        sum_dxhat += dxhat;
        sum_dxhat_xhat += dxhat * (xr[j] - mean) * rstd;
      }
      const float m1 = static_cast<float>(sum_dxhat / c);
      const float m2 = static_cast<float>(sum_dxhat_xhat / c);
      for (int64_t j = 0; j < c; ++j) {
        const float xhat = (xr[j] - mean) * rstd;
        d[j] = rstd * (g[j] * gamma[j] - m1 - xhat * m2);
      }
    }
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
  const int64_t c = x.cols;
  const int g_count = state->num_groups;
  CHECK_EQ(state->running_mean.cols(), c);
  cache->training = training;
  cache->mean.assign(g_count * c, 0.0f);
  cache->rstd.assign(g_count * c, 0.0f);
  cache->count.assign(g_count, 0);
  if (training) {
    std::vector<double> sum(g_count * c, 0.0), sq(g_count * c, 0.0);
    for (int64_t r = 0; r < x.rows; ++r) {
      const int g = group[r];
      CHECK(g >= 0 && g < g_count) << "group " << g << " out of range [0, " << g_count << ")";
      ++cache->count[g];
      const float* xr = x.row(r);
      double* s = &sum[g * c];
      for (int64_t j = 0; j < c; ++j) s[j] += xr[j];
    }
    for (int g = 0; g < g_count; ++g) {
      if (cache->count[g] == 0) continue;
      for (int64_t j = 0; j < c; ++j) cache->mean[g * c + j] = static_cast<float>(sum[g * c + j] / cache->count[g]);
    }
    for (int64_t r = 0; r < x.rows; ++r) {
      const int g = group[r];
      const float* xr = x.row(r);
      const float* m = &cache->mean[g * c];
      double* q = &sq[g * c];
      for (int64_t j = 0; j < c; ++j) {
        const float d = xr[j] - m[j];
        q[j] += d * d;
      }
    }
    for (int g = 0; g < g_count; ++g) {
      const int64_t n = cache->count[g];
      if (n == 0) continue;
      float* rm = state->running_mean.data() + g * c;
      float* rv = state->running_var.data() + g * c;
      for (int64_t j = 0; j < c; ++j) {
        const double var = sq[g * c + j] / n;
        cache->rstd[g * c + j] = 1.0f / std::sqrt(static_cast<float>(var) + eps);
        const double unbiased = n > 1 ? var * n / (n - 1) : rv[j];
        rm[j] = (1.0f - momentum) * rm[j] + momentum * cache->mean[g * c + j];
        rv[j] = (1.0f - momentum) * rv[j] + momentum * static_cast<float>(unbiased);
      }
    }
  } else {
    for (int g = 0; g < g_count; ++g) {
      const float* rm = state->running_mean.data() + g * c;
      const float* rv = state->running_var.data() + g * c;
      for (int64_t j = 0; j < c; ++j) {
        cache->mean[g * c + j] = rm[j];
        cache->rstd[g * c + j] = 1.0f / std::sqrt(rv[j] + eps);
      }
    }
    for (int64_t r = 0; r < x.rows; ++r) ++cache->count[group[r]];
  }
  ParallelFor(x.rows, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int g = group[r];
      const float* xr = x.row(r);
      const float* m = &cache->mean[g * c];
      const float* s = &cache->rstd[g * c];
      const float* ga = gamma + g * c;
      const float* be = beta + g * c;
      float* yr = y.row(r);
      for (int64_t j = 0; j < c; ++j) yr[j] = (xr[j] - m[j]) * s[j] * ga[j] + be[j];
    }
  });
}

void GroupBatchNormBackward(ConstMatView x, const int32_t* group, const float* gamma,
                            const GroupBatchNormCache& cache, ConstMatView dy, MatView dx,
                            float* dgamma, float* dbeta) {
  const int64_t c = x.cols;
  const int g_count = static_cast<int>(cache.count.size());
  // Per group: sum of dxhat and of dxhat * xhat (training mode needs both).
  std::vector<double> sum_dxhat(g_count * c, 0.0), sum_dxhat_xhat(g_count * c, 0.0);
  for (int64_t r = 0; r < x.rows; ++r) {
    const int g = group[r];
    const float* xr = x.row(r);
    const float* gr = dy.row(r);
    const float* m = &cache.mean[g * c];
    const float* s = &cache.rstd[g * c];
    const float* ga = gamma + g * c;
    float* dga = dgamma + g * c;
    float* dbe = dbeta + g * c;
    for (int64_t j = 0; j < c; ++j) {
      const float xhat = (xr[j] - m[j]) * s[j];
      dga[j] += gr[j] * xhat;
      dbe[j] += gr[j];
      const float dxhat = gr[j] * ga[j];
      sum_dxhat[g * c + j] += dxhat;
      sum_dxhat_xhat[g * c + j] += dxhat * xhat;
    }
  }
  ParallelFor(x.rows, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int g = group[r];
      const float* xr = x.row(r);
      const float* gr = dy.row(r);
      const float* m = &cache.mean[g * c];
      const float* s = &cache.rstd[g * c];
      const float* ga = gamma + g * c;
      float* d = dx.row(r);
      if (!cache.training) {
        for (int64_t j = 0; j < c; ++j) d[j] = gr[j] * ga[j] * s[j];
        continue;
      }
      const double n = static_cast<double>(cache.count[g]);
      for (int64_t j = 0; j < c; ++j) {
        const float xhat = (xr[j] - m[j]) * s[j];
        const float m1 = static_cast<float>(sum_dxhat[g * c + j] / n);
        const float m2 = static_cast<float>(sum_dxhat_xhat[g * c + j] / n);
        d[j] = s[j] * (gr[j] * ga[j] - m1 - xhat * m2);
      }
    }
  });
}

}  // namespace moerec
