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

  // All-to-all exchanges (expert dispatch and combine). Element counts are per peer rank, in
  // rank order; a buffer is laid out by peer: the elements for (from) rank r start at
  // displacement displs[r] (elements, not bytes). send == recv is not allowed.
  //
  // ExchangeCounts: send_counts[r] = what this rank will send to r; on return recv_counts[r] =
  // what r will send to this rank (the exchange that precedes a variable dispatch).
  virtual Status ExchangeCounts(const std::vector<int64_t>& send_counts,
                                std::vector<int64_t>* recv_counts) = 0;
  // AllToAll: `count` elements to every rank; send and recv hold size() * count elements,
  // peer r's block at r * count.
  virtual Status AllToAll(const float* send, float* recv, int64_t count) = 0;
  virtual Status AllToAll(const int32_t* send, int32_t* recv, int64_t count) = 0;
  virtual Status AllToAll(const int64_t* send, int64_t* recv, int64_t count) = 0;
  // AllToAllV: send_counts[r] elements from send + send_displs[r] go to rank r; recv_counts[r]
  // elements from rank r land at recv + recv_displs[r]. Every vector has size() entries.
  // recv_counts must equal what the peers send (what ExchangeCounts returned): the backends
  // check it (one count exchange and a flag all-reduce), and a mismatch anywhere, or a bad
  // vector, is InvalidArgument on every rank, naming the ranks and counts, never a hang or a
  // truncated receive.
  virtual Status AllToAllV(const float* send, const std::vector<int64_t>& send_counts,
                           const std::vector<int64_t>& send_displs, float* recv,
                           const std::vector<int64_t>& recv_counts,
                           const std::vector<int64_t>& recv_displs) = 0;
  virtual Status AllToAllV(const int32_t* send, const std::vector<int64_t>& send_counts,
                           const std::vector<int64_t>& send_displs, int32_t* recv,
                           const std::vector<int64_t>& recv_counts,
                           const std::vector<int64_t>& recv_displs) = 0;
  virtual Status AllToAllV(const int64_t* send, const std::vector<int64_t>& send_counts,
                           const std::vector<int64_t>& send_displs, int64_t* recv,
                           const std::vector<int64_t>& recv_counts,
                           const std::vector<int64_t>& recv_displs) = 0;
};

// Displacements of a buffer laid out peer after peer: displs[r] = counts[0] + ... +
// counts[r - 1]; returns the total.
int64_t PackedDisplacements(const std::vector<int64_t>& counts, std::vector<int64_t>* displs);

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
  // The all-to-alls copy send to recv; arguments are checked as MpiCommunicator checks them,
  // without its int limit.
  Status ExchangeCounts(const std::vector<int64_t>& send_counts,
                        std::vector<int64_t>* recv_counts) override;
  Status AllToAll(const float* send, float* recv, int64_t count) override;
  Status AllToAll(const int32_t* send, int32_t* recv, int64_t count) override;
  Status AllToAll(const int64_t* send, int64_t* recv, int64_t count) override;
  Status AllToAllV(const float* send, const std::vector<int64_t>& send_counts,
                   const std::vector<int64_t>& send_displs, float* recv,
                   const std::vector<int64_t>& recv_counts,
                   const std::vector<int64_t>& recv_displs) override;
  Status AllToAllV(const int32_t* send, const std::vector<int64_t>& send_counts,
                   const std::vector<int64_t>& send_displs, int32_t* recv,
                   const std::vector<int64_t>& recv_counts,
                   const std::vector<int64_t>& recv_displs) override;
  Status AllToAllV(const int64_t* send, const std::vector<int64_t>& send_counts,
                   const std::vector<int64_t>& send_displs, int64_t* recv,
                   const std::vector<int64_t>& recv_counts,
                   const std::vector<int64_t>& recv_displs) override;
};

}  // namespace moerec

#endif  // MOEREC_COMM_COMMUNICATOR_H_
