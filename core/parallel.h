// Compute threading. Ops and OpenBLAS share one OpenMP thread pool; SetComputeThreads() sizes
// it for the whole process (an MPI rank runs one trainer, so this is per-rank configuration).
//
// ParallelFor splits [0, n) into min(threads, n / grain) contiguous chunks (at least `grain`
// items each) and runs them on the pool; a range too small for two chunks, or a call made from
// inside a parallel region, runs inline on the calling thread. `fn(begin, end)` must be safe
// to call concurrently on disjoint ranges. The chunk boundaries depend on the thread count, so
// a kernel whose result must not depend on it either computes each item independently or
// reduces in an order fixed by the data alone (see core/internal/kernel_util.h).
//
// The template overload calls `fn` without type erasure or allocation; the std::function
// overload exists for callers that already hold one.
#ifndef MOEREC_CORE_PARALLEL_H_
#define MOEREC_CORE_PARALLEL_H_

#include <cstdint>
#include <functional>

namespace moerec {

void SetComputeThreads(int threads);
int ComputeThreads();

void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

namespace internal {
using RangeFn = void (*)(const void* ctx, int64_t begin, int64_t end);
// How many chunks ParallelFor(n, grain, ...) uses here and now (1 = inline).
int64_t ParallelChunks(int64_t n, int64_t grain);
// Runs fn(ctx, begin, end) on `chunks` (>= 2) contiguous chunks of [0, n) in parallel.
void RunChunks(int64_t n, int64_t chunks, RangeFn fn, const void* ctx);
}  // namespace internal

template <typename Fn>
void ParallelFor(int64_t n, int64_t grain, const Fn& fn) {
  if (n <= 0) return;
  const int64_t chunks = internal::ParallelChunks(n, grain);
  if (chunks <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  internal::RunChunks(
      n, chunks,
      [](const void* ctx, int64_t begin, int64_t end) {
        (*static_cast<const Fn*>(ctx))(begin, end);
      },
      &fn);
}

}  // namespace moerec

#endif  // MOEREC_CORE_PARALLEL_H_
