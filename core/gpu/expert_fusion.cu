// CUDA twins of core/expert_fusion.h (its dimension legend and gradient rule hold here).
// domain_of is a device array on a device call. The fused activations and their gradients are
// one body per (row, column); the four scalar gradients are host doubles (the CPU contract):
// one body per row sums that row's terms in double in the CPU kernel's order, one body per
// scalar then sums the rows in row order, and the four sums come back with one CopySync (the
// call waits for the compute stream). Results do not depend on the launch shape.
// A domain id outside [0, D) is not checked on the device (the CPU kernel CHECKs it); the
// data layer validates domains at load.
#include "core/gpu/kernels.h"
#include "core/gpu/launch.cuh"

namespace moerec {
namespace gpu {
namespace {

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

// Level-1 fusion at column j of one row (blocks: n of width h): beta blocks[own] + (1 - beta)
// / (n - 1) * the others, blocks[own] alone when n = 1; *sum receives the sum of all blocks
// (in block order, as the CPU kernel adds).
__host__ __device__ inline float FuseAt(const float* blocks, int64_t n, int64_t own, int64_t h,
                                        int64_t j, float beta, float* sum) {
  float s = 0.0f;
  for (int64_t k = 0; k < n; ++k) s += blocks[k * h + j];
  *sum = s;
  const float mine = blocks[own * h + j];
  if (n == 1) return mine;
  const float other = (1.0f - beta) / static_cast<float>(n - 1);
  return beta * mine + other * (s - mine);
}

}  // namespace

void M3oeFusionForward(ConstMatView shared, ConstMatView domain, ConstMatView task,
                       const int32_t* domain_of, int num_domains, int num_tasks,
                       const FusionWeights& w, MatView z) {
  CHECK_EQ(shared.rows, z.rows);
  CHECK_EQ(shared.cols, z.cols);
  const int64_t h = CheckShapes(domain, task, num_domains, num_tasks, z.rows, z.cols);
  GpuResources* gpu = CommonDevice(shared, domain, task, z);
  const int64_t nd = num_domains, nt = num_tasks;
  const FusionWeights fw = w;
  // One body per element of z: (row r, task t, column j).
  ForEach(gpu, z.rows * z.cols, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / z.cols, col = i % z.cols, t = col / h, j = col % h;
    float unused;
    const float dom =
        FuseAt(domain.data + r * domain.ld, nd, domain_of[r], h, j, fw.beta_domain, &unused);
    const float tsk = FuseAt(task.data + r * task.ld, nt, t, h, j, fw.beta_task, &unused);
    z.data[r * z.ld + col] =
        shared.data[r * shared.ld + col] + fw.alpha_domain * dom + fw.alpha_task * tsk;
  });
}

void M3oeFusionBackward(ConstMatView domain, ConstMatView task, const int32_t* domain_of,
                        int num_domains, int num_tasks, const FusionWeights& w, ConstMatView dz,
                        MatView ddomain, MatView dtask, double dweights[4]) {
  const int64_t h = CheckShapes(domain, task, num_domains, num_tasks, dz.rows, dz.cols);
  CHECK(ddomain.rows == domain.rows && ddomain.cols == domain.cols);
  CHECK(dtask.rows == task.rows && dtask.cols == task.cols);
  GpuResources* gpu = CommonDevice(domain, task, dz, ddomain, dtask);
  const int64_t rows = dz.rows;
  if (rows == 0) return;
  const int64_t nd = num_domains, nt = num_tasks;
  const FusionWeights fw = w;

  // Activation gradients: one body per (row, column j of a block), writing column j of every
  // domain and task block of the row.
  ForEach(gpu, rows * h, [=] __host__ __device__(int64_t i) {
    const int64_t r = i / h, j = i % h;
    const float* g = dz.data + r * dz.ld;
    float ddom = 0.0f, dtsk_sum = 0.0f;
    for (int64_t t = 0; t < nt; ++t) {
      ddom += g[t * h + j];
      dtsk_sum += fw.alpha_task * g[t * h + j];
    }
    // dTk_k = c_t sum_t dTsk_t + (beta_t - c_t) dTsk_k.
    const float ct = nt > 1 ? (1.0f - fw.beta_task) / static_cast<float>(nt - 1) : 0.0f;
    const float own_t = nt > 1 ? fw.beta_task - ct : 1.0f;
    float* dt = dtask.data + r * dtask.ld;
    for (int64_t k = 0; k < nt; ++k)
      dt[k * h + j] = ct * dtsk_sum + own_t * fw.alpha_task * g[k * h + j];
    // dDom = alpha_d sum_t dz_t, spread over the domain blocks.
    ddom *= fw.alpha_domain;
    float* dd = ddomain.data + r * ddomain.ld;
    const int32_t d = domain_of[r];
    const float cd = nd > 1 ? (1.0f - fw.beta_domain) / static_cast<float>(nd - 1) : 0.0f;
    for (int64_t k = 0; k < nd; ++k) {
      dd[k * h + j] = nd == 1 ? ddom : (k == d ? fw.beta_domain : cd) * ddom;
    }
  });

  // Scalar gradients: partial[r * 4 + s] for row r, then sums[s] over the rows in order.
  double* partial = static_cast<double*>(gpu->Allocate((rows + 1) * 4 * sizeof(double)));
  double* sums = partial + rows * 4;
  ForEach(gpu, rows, [=] __host__ __device__(int64_t r) {
    const float* dm = domain.data + r * domain.ld;
    const float* tk = task.data + r * task.ld;
    const float* g = dz.data + r * dz.ld;
    const int32_t d = domain_of[r];
    double p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0;
    for (int64_t t = 0; t < nt; ++t) {
      for (int64_t j = 0; j < h; ++j) {
        float dsum, tsum;
        const float dom = FuseAt(dm, nd, d, h, j, fw.beta_domain, &dsum);
        const float tsk = FuseAt(tk, nt, t, h, j, fw.beta_task, &tsum);
        const float gj = g[t * h + j];
        p0 += static_cast<double>(gj) * dom;
        p1 += static_cast<double>(gj) * tsk;
        if (nt > 1) {
          // d Tsk_t / d beta_t = Tk_t - (sum - Tk_t) / (T - 1).
          const double own = tk[t * h + j];
          p3 += static_cast<double>(fw.alpha_task * gj) *
                (own - (tsum - own) / static_cast<double>(nt - 1));
        }
      }
    }
    if (nd > 1) {
      for (int64_t j = 0; j < h; ++j) {
        float ddom = 0.0f, dsum = 0.0f;
        for (int64_t t = 0; t < nt; ++t) ddom += g[t * h + j];
        ddom *= fw.alpha_domain;
        for (int64_t k = 0; k < nd; ++k) dsum += dm[k * h + j];
        const double own = dm[d * h + j];
        p2 += static_cast<double>(ddom) * (own - (dsum - own) / static_cast<double>(nd - 1));
      }
    }
    double* p = partial + r * 4;
    p[0] = p0;
    p[1] = p1;
    p[2] = p2;
    p[3] = p3;
  });
  ForEach(gpu, 4, [=] __host__ __device__(int64_t s) {
    double acc = 0.0;
    for (int64_t r = 0; r < rows; ++r) acc += partial[r * 4 + s];
    sums[s] = acc;
  });
  double host[4];
  gpu->CopySync(host, sums, sizeof(host), GpuResources::kDeviceToHost);
  gpu->Free(partial);
  for (int s = 0; s < 4; ++s) dweights[s] += host[s];
}

}  // namespace gpu
}  // namespace moerec
