#include "core/parallel.h"

#include <omp.h>

#include <algorithm>

#include <glog/logging.h>

extern "C" void openblas_set_num_threads(int num_threads);

namespace moerec {

void SetComputeThreads(int threads) {
  CHECK_GE(threads, 1);
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

int ComputeThreads() { return omp_get_max_threads(); }

void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int threads = omp_get_max_threads();
  const int64_t chunks = std::min<int64_t>(threads, std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)));
  if (chunks <= 1 || omp_in_parallel()) {
    fn(0, n);
    return;
  }
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = n * c / chunks;
    const int64_t end = n * (c + 1) / chunks;
    fn(begin, end);
  }
}

}  // namespace moerec
