// Compute threading. Ops and OpenBLAS share one OpenMP thread pool; SetComputeThreads() sizes
// it for the whole process (an MPI rank runs one trainer, so this is per-rank configuration).
// ParallelFor splits [0, n) into contiguous chunks of at least `grain` items and runs them on
// the pool; small ranges run inline. `fn(begin, end)` must be safe to call concurrently on
// disjoint ranges.
#ifndef MOEREC_CORE_PARALLEL_H_
#define MOEREC_CORE_PARALLEL_H_

#include <cstdint>
#include <functional>

namespace moerec {

void SetComputeThreads(int threads);
int ComputeThreads();

void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace moerec

#endif  // MOEREC_CORE_PARALLEL_H_
