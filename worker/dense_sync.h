// DenseSync: keeps the dense (replicated) parameters of the workers identical. At start the
// chief's values are broadcast; each step the gradients of every replicated parameter are
// packed into one buffer, summed over the workers with a single all-reduce and unpacked, so
// every worker's optimizer applies the same global-batch gradient. With one worker both are
// no-ops. Expert-local parameters (Parameter::expert_local: an expert held by one worker) are
// left alone: their gradients are complete where they live (experts/parallel/).
// Ownership: the communicator and parameters are the caller's. Not thread-safe.
#ifndef MOEREC_WORKER_DENSE_SYNC_H_
#define MOEREC_WORKER_DENSE_SYNC_H_

#include <vector>

#include "comm/communicator.h"
#include "core/parameter.h"
#include "core/status.h"

namespace moerec {

class DenseSync {
 public:
  DenseSync(Communicator* workers, ParameterSet* params) : workers_(workers), params_(params) {}

  Status BroadcastParameters();
  Status AllReduceGradients();

  int64_t bytes_per_step() const { return static_cast<int64_t>(buffer_.size() * sizeof(float)); }

 private:
  Communicator* const workers_;
  ParameterSet* const params_;
  std::vector<float> buffer_;
};

}  // namespace moerec

#endif  // MOEREC_WORKER_DENSE_SYNC_H_
