// The moe benchmark (issue: sparse experts across the cluster): training steps of a many-expert
// top-k MoE on every rank of an MPI world (or one process), once with the experts replicated
// and once spread over the workers, at the same global batch, in the same run.
//
// Workload: random dense inputs (B per worker, 128 features, 3 domains, 2 tasks), an encoder
// 128 -> 256, E experts 256 -> 256 -> 128 ReLU, a softmax router with top-k (capacity factor
// 1.25, tokens dropped by position) and the balance loss at 0.01, towers 128 -> 64 -> 1 per
// task; dlogits random; gradients of replicated parameters all-reduced (DenseSync), Adam on
// everything. No embedding tables: the step is the dense model, so the figures isolate the
// expert layer, its dispatch and the all-reduce that expert parallelism removes.
//
// Printed (name=value): per-step wall milliseconds of both (the slowest rank's mean),
// ep_step_time_ratio (expert-parallel / replicated), expert parameter bytes per rank and
// expert_bytes_per_rank_ratio (the largest rank's / replicated), dispatch bytes per step
// (floats sent to other ranks plus the count exchange) against the routing's minimum (rows
// whose expert lives on another rank x (2 hidden + 2 output) floats: dispatch, combine and
// their gradients) as dispatch_bytes_ratio, the time split of an expert-parallel step
// (route, dispatch, experts, combine, the rest of forward/backward, all-reduce, optimizer), and
// the active experts per sample against dense MMoE routing's E.
#ifndef MOEREC_BENCH_MOE_BENCH_H_
#define MOEREC_BENCH_MOE_BENCH_H_

#include "comm/communicator.h"
#include "core/status.h"

namespace moerec {

struct MoeBenchOptions {
  int experts = 64;
  int top_k = 2;
  int batch = 1024;  // per worker
  int steps = 30;    // timed steps
  int warmup = 5;
  int threads = 1;  // compute threads per rank
};

// `workers`: the world's communicator (one rank per worker).
Status RunMoeBenchmark(const MoeBenchOptions& options, Communicator* workers);

}  // namespace moerec

#endif  // MOEREC_BENCH_MOE_BENCH_H_
