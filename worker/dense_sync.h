// DenseSync: keeps the dense (replicated) parameters of the workers identical. At start the
// chief's values are broadcast; each step the gradients of every replicated parameter are
// packed into one buffer, summed over the workers with a single all-reduce and unpacked, so
// every worker's optimizer applies the same global-batch gradient. With one worker both are
// no-ops. Expert-local parameters (Parameter::expert_local: an expert held by one worker) are
// left alone: their gradients are complete where they live (experts/parallel/).
// GPU workers (parameters on a device): with `device_workers` (the NCCL backend,
// comm/worker_communicator.h) the gradients are packed into one device buffer and all-reduced
// there; without it they travel through a host buffer and `workers`. The start-up broadcast
// always goes through the host.
// Ownership: the communicators and parameters are the caller's. Not thread-safe.
#ifndef MOEREC_WORKER_DENSE_SYNC_H_
#define MOEREC_WORKER_DENSE_SYNC_H_

#include <vector>

#include "comm/communicator.h"
#include "core/parameter.h"
#include "core/status.h"

namespace moerec {

class DenseSync {
 public:
  DenseSync(Communicator* workers, ParameterSet* params, Communicator* device_workers = nullptr)
      : workers_(workers), params_(params), device_workers_(device_workers) {}

  Status BroadcastParameters();
  Status AllReduceGradients();

  int64_t bytes_per_step() const { return bytes_per_step_; }

 private:
  Status AllReduceOnDevice(GpuResources* gpu, int64_t total);

  Communicator* const workers_;
  ParameterSet* const params_;
  Communicator* const device_workers_;
  std::vector<float> buffer_;
  Tensor device_buffer_;
  int64_t bytes_per_step_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_WORKER_DENSE_SYNC_H_
