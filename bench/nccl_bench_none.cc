// bench/nccl_bench.h in a build without CUDA or NCCL.
#include "bench/nccl_bench.h"

namespace moerec {

Status RunNcclBenchmark(const NcclBenchOptions& options) {
  return Unavailable(
      "bench nccl: this build has no NCCL backend (MOEREC_CUDA=OFF, or NCCL not found at "
      "configure time)");
}

}  // namespace moerec
