// Communicator: the collectives that workers use among themselves (dense-gradient all-reduce,
// global loss normalisers, the load-balance statistics of SMES, exact metrics, expert
// dispatch). One interface, several backends: SelfCommunicator (one rank, for single-process
// training and tests), MpiCommunicator (CPU, over a role's MPI communicator) and an NCCL
// backend for GPU workers.
//
// All calls are collective: every rank of the communicator makes the same calls in the same
// order with matching sizes. Buffers are the caller's and are only used during the call.
// Errors (a peer gone, a size mismatch detected by the backend) come back as a Status.
// Thread-safety: one thread per communicator at a time.
#ifndef MOEREC_COMM_COMMUNICATOR_H_
#define MOEREC_COMM_COMMUNICATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace moerec {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In place: data[i] = Σ over ranks of data[i]. Summation order is fixed by the backend, so
  // results are identical on every rank.
  virtual Status AllReduceSum(float* data, int64_t n) = 0;
  virtual Status AllReduceSum(double* data, int64_t n) = 0;
  // In place: data[i] = max over ranks.
  virtual Status AllReduceMax(double* data, int64_t n) = 0;
  // Every rank receives every rank's bytes, in rank order.
  virtual Status AllGather(const std::string& mine, std::vector<std::string>* all) = 0;
  // `bytes` bytes at data from `root` to every rank.
  virtual Status Broadcast(void* data, int64_t bytes, int root) = 0;
  virtual Status Barrier() = 0;
};

// The communicator of a world of one rank: every collective is the identity.
class SelfCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status AllReduceSum(float* data, int64_t n) override { return Status::OK(); }
  Status AllReduceSum(double* data, int64_t n) override { return Status::OK(); }
  Status AllReduceMax(double* data, int64_t n) override { return Status::OK(); }
  Status AllGather(const std::string& mine, std::vector<std::string>* all) override {
    all->assign(1, mine);
    return Status::OK();
  }
  Status Broadcast(void* data, int64_t bytes, int root) override { return Status::OK(); }
  Status Barrier() override { return Status::OK(); }
};

}  // namespace moerec

#endif  // MOEREC_COMM_COMMUNICATOR_H_
