// Bounded models: what a worker's dense side of a job will take in memory, worked out from the
// config before anything is allocated, and the check that it fits. A config asking for more
// (two 65536-wide expert layers, say) is refused at load with the sizes, instead of failing an
// allocation with a stack trace partway into the job.
//
// The estimate covers the model's parameter values, their gradients, the dense optimizer's
// state and one copy for the best-state restore, plus the activations and their gradients of one
// training batch (experts/model.h EstimateModelSize gives the model's part). Embedding rows are
// the parameter servers' (their cache_mb bounds them) and are not counted here.
// Thread-safety: pure functions.
#ifndef MOEREC_WORKER_MEMORY_CHECK_H_
#define MOEREC_WORKER_MEMORY_CHECK_H_

#include <cstdint>

#include "core/status.h"
#include "experts/model.h"
#include "proto/config.pb.h"

namespace moerec {

struct WorkerMemory {
  int64_t parameter_bytes = 0;   // values, gradients, the best-state copy
  int64_t optimizer_bytes = 0;   // the dense optimizer's state
  int64_t activation_bytes = 0;  // one training batch
  int64_t total() const { return parameter_bytes + optimizer_bytes + activation_bytes; }
};

WorkerMemory EstimateWorkerMemory(const JobConfig& config, const ModelShape& shape);

// MemAvailable of /proc/meminfo, in bytes; -1 when it cannot be read.
int64_t AvailableMemoryBytes();

// ResourceExhausted, with the estimate's parts and `available_bytes`, when the estimate exceeds
// it; OK when it fits or `available_bytes` < 0 (unknown).
Status CheckWorkerMemory(const JobConfig& config, const ModelShape& shape, int64_t available_bytes);

}  // namespace moerec

#endif  // MOEREC_WORKER_MEMORY_CHECK_H_
