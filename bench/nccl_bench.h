// The NCCL benchmark (`moerec bench nccl`): bytes/s of NcclCommunicator's AllToAll and
// AllReduceSum on one rank and one GPU, message size by message size, against the same run's
// device-to-device cudaMemcpy of the same bytes (the ceiling of a one-rank exchange, which NCCL
// performs as a copy through its send/recv path). It measures what NCCL costs per call on top
// of the copy (launch, group, the stream wait of every Communicator call). On one rank NCCL's
// in-place all-reduce has nothing to add, so its figure is the cost of a call per byte; the
// multi-rank bandwidths are the training run's own figures.
//
// Sizes double from min_bytes to max_bytes (max_bytes always included). Every figure is the
// best of `repetitions` timed calls after one untimed one; bytes/s = message bytes / seconds of
// one call, from its start on the host to its return (every call waits for its result).
// Prints name=value lines: device=<GPU name>, then per size
//   nccl_alltoall_bytes_per_sec_<bytes>, nccl_allreduce_bytes_per_sec_<bytes>,
//   device_copy_bytes_per_sec_<bytes>
// and last the headline figures of the largest size: message_bytes, nccl_alltoall_bytes_per_sec,
// nccl_allreduce_bytes_per_sec, device_copy_bytes_per_sec, alltoall_vs_copy.
// Without a GPU, or in a build without CUDA/NCCL, returns Unavailable with the reason.
#ifndef MOEREC_BENCH_NCCL_BENCH_H_
#define MOEREC_BENCH_NCCL_BENCH_H_

#include <cstdint>

#include "core/status.h"

namespace moerec {

struct NcclBenchOptions {
  int64_t min_bytes = int64_t{1} << 20;    // smallest message; >= 8, a multiple of 8
  int64_t max_bytes = int64_t{256} << 20;  // largest message; >= min_bytes, a multiple of 8
  int repetitions = 5;                     // timed calls per figure, best kept; >= 1
  int device = 0;                          // CUDA ordinal; >= 0
};

Status RunNcclBenchmark(const NcclBenchOptions& options);

}  // namespace moerec

#endif  // MOEREC_BENCH_NCCL_BENCH_H_
