#include "core/expert_fusion.h"

#include <vector>

#include "core/internal/gpu_dispatch.h"
#include "core/internal/kernel_util.h"
#include "core/parallel.h"

namespace moerec {
namespace {

// H, checked against every view.
int64_t CheckShapes(ConstMatView domain, ConstMatView task, int num_domains, int num_tasks,
                    int64_t rows, int64_t cols) {
  CHECK_GE(num_domains, 1);
  CHECK_GE(num_tasks, 1);
  CHECK_EQ(cols % num_tasks, 0);
  const int64_t h = cols / num_tasks;
  CHECK_EQ(domain.rows, rows);
  CHECK_EQ(domain.cols, num_domains * h);
  CHECK_EQ(task.rows, rows);
  CHECK_EQ(task.cols, cols);
  return h;
}

// Level-1 fusion of one row: out (H) = beta blocks[own] + (1 - beta) / (n - 1) * the other
// blocks (H each, n of them); blocks[own] alone when n = 1. sum (H) receives the sum of all
// blocks.
void Fuse(const float* blocks, int64_t n, int64_t own, int64_t h, float beta, float* sum,
          float* out) {
  for (int64_t j = 0; j < h; ++j) sum[j] = 0.0f;
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t j = 0; j < h; ++j) sum[j] += blocks[k * h + j];
  }
  const float* mine = blocks + own * h;
  if (n == 1) {
    for (int64_t j = 0; j < h; ++j) out[j] = mine[j];
    return;
  }
  const float other = (1.0f - beta) / static_cast<float>(n - 1);
  for (int64_t j = 0; j < h; ++j) out[j] = beta * mine[j] + other * (sum[j] - mine[j]);
}

}  // namespace

void M3oeFusionForward(ConstMatView shared, ConstMatView domain, ConstMatView task,
                       const int32_t* domain_of, int num_domains, int num_tasks,
                       const FusionWeights& w, MatView z) {
  MOEREC_GPU_DISPATCH(
      z, gpu::M3oeFusionForward(shared, domain, task, domain_of, num_domains, num_tasks, w, z));
  CHECK_EQ(shared.rows, z.rows);
  CHECK_EQ(shared.cols, z.cols);
  const int64_t h = CheckShapes(domain, task, num_domains, num_tasks, z.rows, z.cols);
  ParallelFor(z.rows, internal::RowGrain(z.cols), [&](int64_t r0, int64_t r1) {
    std::vector<float> sum(h), dom(h), tsk(h);
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t d = domain_of[r];
      CHECK(d >= 0 && d < num_domains) << "row " << r << " domain " << d;
      Fuse(domain.row(r), num_domains, d, h, w.beta_domain, sum.data(), dom.data());
      for (int64_t t = 0; t < num_tasks; ++t) {
        Fuse(task.row(r), num_tasks, t, h, w.beta_task, sum.data(), tsk.data());
        const float* s = shared.row(r) + t * h;
        float* out = z.row(r) + t * h;
        for (int64_t j = 0; j < h; ++j)
          out[j] = s[j] + w.alpha_domain * dom[j] + w.alpha_task * tsk[j];
      }
    }
  });
}

void M3oeFusionBackward(ConstMatView domain, ConstMatView task, const int32_t* domain_of,
                        int num_domains, int num_tasks, const FusionWeights& w, ConstMatView dz,
                        MatView ddomain, MatView dtask, double dweights[4]) {
  MOEREC_GPU_DISPATCH(dz, gpu::M3oeFusionBackward(domain, task, domain_of, num_domains, num_tasks,
                                                  w, dz, ddomain, dtask, dweights));
  const int64_t h = CheckShapes(domain, task, num_domains, num_tasks, dz.rows, dz.cols);
  CHECK(ddomain.rows == domain.rows && ddomain.cols == domain.cols);
  CHECK(dtask.rows == task.rows && dtask.cols == task.cols);
  const int64_t nd = num_domains, nt = num_tasks;
  // Per-row partial sums of the four scalar gradients, summed in row order below.
  std::vector<double> partial(static_cast<size_t>(dz.rows) * 4, 0.0);
  ParallelFor(dz.rows, internal::RowGrain(dz.cols), [&](int64_t r0, int64_t r1) {
    std::vector<float> sum(h), dom(h), tsk(h), ddom(h), dtsk_sum(h);
    for (int64_t r = r0; r < r1; ++r) {
      double* p = partial.data() + r * 4;
      const int32_t d = domain_of[r];
      const float* dm = domain.row(r);
      const float* tk = task.row(r);
      Fuse(dm, nd, d, h, w.beta_domain, sum.data(), dom.data());
      for (int64_t j = 0; j < h; ++j) ddom[j] = dtsk_sum[j] = 0.0f;
      // alpha_d, alpha_t and beta_t; dTsk_t = alpha_t dz_t.
      float* dt = dtask.row(r);
      for (int64_t t = 0; t < nt; ++t) {
        const float* g = dz.row(r) + t * h;
        Fuse(tk, nt, t, h, w.beta_task, sum.data(), tsk.data());
        for (int64_t j = 0; j < h; ++j) {
          ddom[j] += g[j];
          p[0] += static_cast<double>(g[j]) * dom[j];
          p[1] += static_cast<double>(g[j]) * tsk[j];
          dtsk_sum[j] += w.alpha_task * g[j];
          if (nt > 1) {
            // d Tsk_t / d beta_t = Tk_t - (sum - Tk_t) / (T - 1).
            const double own = tk[t * h + j];
            p[3] += static_cast<double>(w.alpha_task * g[j]) *
                    (own - (sum[j] - own) / static_cast<double>(nt - 1));
          }
        }
      }
      // dTk_k = c_t sum_t dTsk_t + (beta_t - c_t) dTsk_k.
      const float ct = nt > 1 ? (1.0f - w.beta_task) / static_cast<float>(nt - 1) : 0.0f;
      const float own_t = nt > 1 ? w.beta_task - ct : 1.0f;
      for (int64_t k = 0; k < nt; ++k) {
        const float* g = dz.row(r) + k * h;
        for (int64_t j = 0; j < h; ++j)
          dt[k * h + j] = ct * dtsk_sum[j] + own_t * w.alpha_task * g[j];
      }
      // Domain side: dDom = alpha_d sum_t dz_t.
      for (int64_t j = 0; j < h; ++j) ddom[j] *= w.alpha_domain;
      float* dd = ddomain.row(r);
      // sum of the domain blocks (Fuse above left the task sum in `sum`).
      for (int64_t j = 0; j < h; ++j) sum[j] = 0.0f;
      for (int64_t k = 0; k < nd; ++k) {
        for (int64_t j = 0; j < h; ++j) sum[j] += dm[k * h + j];
      }
      if (nd == 1) {
        for (int64_t j = 0; j < h; ++j) dd[j] = ddom[j];
      } else {
        const float cd = (1.0f - w.beta_domain) / static_cast<float>(nd - 1);
        for (int64_t k = 0; k < nd; ++k) {
          const float c = k == d ? w.beta_domain : cd;
          for (int64_t j = 0; j < h; ++j) dd[k * h + j] = c * ddom[j];
        }
        for (int64_t j = 0; j < h; ++j) {
          const double own = dm[d * h + j];
          p[2] +=
              static_cast<double>(ddom[j]) * (own - (sum[j] - own) / static_cast<double>(nd - 1));
        }
      }
    }
  });
  for (int64_t r = 0; r < dz.rows; ++r) {
    for (int k = 0; k < 4; ++k) dweights[k] += partial[r * 4 + k];
  }
}

}  // namespace moerec
