#include "core/parallel.h"

#include <glog/logging.h>
#include <omp.h>

#include <algorithm>

extern "C" void openblas_set_num_threads(int num_threads);

namespace moerec {

void SetComputeThreads(int threads) {
  CHECK_GE(threads, 1);
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

int ComputeThreads() { return omp_get_max_threads(); }

namespace internal {

int64_t ParallelChunks(int64_t n, int64_t grain) {
  if (n <= 0 || omp_in_parallel()) return 1;
  const int64_t threads = omp_get_max_threads();
  return std::min<int64_t>(threads, std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)));
}

void RunChunks(int64_t n, int64_t chunks, RangeFn fn, const void* ctx) {
#pragma omp parallel for num_threads(static_cast <int>(chunks)) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    fn(ctx, n * c / chunks, n * (c + 1) / chunks);
  }
}

}  // namespace internal

void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  ParallelFor<std::function<void(int64_t, int64_t)>>(n, grain, fn);
}

}  // namespace moerec
