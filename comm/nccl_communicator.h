// NcclCommunicator: the Communicator of GPU workers, over NCCL on one GPU per rank (built only
// with CUDA and NCCL; comm/worker_communicator.h chooses it for GPU workers).
//
// Memory: the data buffers of AllReduceSum, AllReduceMax, AllToAll and AllToAllV are device
// memory of `gpu` (its caching allocator, or any cudaMalloc of that device); passing host
// memory is a program error and stops the process. Counts, displacements and the buffers of
// the control collectives (AllGather, Broadcast, Barrier, ExchangeCounts) stay on the host:
// those calls go to `host`, the MPI communicator of the same ranks, which must outlive this
// object. Neither `host` nor `gpu` is owned.
//
// Ordering: every NCCL call is launched on gpu's compute stream, after whatever the caller
// queued there, and each call returns once its result is ready (it waits for the stream), so a
// caller may read the buffers, or queue kernels on any stream, right away. The all-to-alls are
// grouped ncclSend/ncclRecv (one group per call).
//
// Errors: the argument checks and messages are MpiCommunicator's (comm/internal/); AllToAllV
// cross-checks the counts over `host` (a count exchange and a flag all-reduce) before anything
// is sent, so a mismatch is InvalidArgument on every rank, never a hang. Create's failures are
// Internal naming the NCCL or CUDA call. In a collective, a failing NCCL call, or an
// asynchronous NCCL error while waiting (a peer gone), is Unavailable naming the call; the
// NCCL communicator is then aborted and every later call returns the same status.
// Thread-safety: as Communicator (one thread per communicator at a time), and the caller must
// not launch on gpu's compute stream from another thread during a call.
#ifndef MOEREC_COMM_NCCL_COMMUNICATOR_H_
#define MOEREC_COMM_NCCL_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/gpu/resources.h"

struct ncclComm;  // ncclComm_t of <nccl.h>, kept out of this header

namespace moerec {

class NcclCommunicator : public Communicator {
 public:
  // Collective over `host`: rank 0 makes the ncclUniqueId and broadcasts it over `host`, then
  // every rank joins with ncclCommInitRank on gpu's device. `gpu` must be a real device (NCCL
  // cannot run under host execution): FailedPrecondition otherwise. Every rank of `host` must
  // use a different GPU.
  static StatusOr<std::unique_ptr<NcclCommunicator>> Create(Communicator* host, GpuResources* gpu);
  ~NcclCommunicator() override;  // ncclCommDestroy (nothing after Fail aborted it)
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  // Device buffers (see the header comment).
  Status AllReduceSum(float* data, int64_t n) override;
  Status AllReduceSum(double* data, int64_t n) override;
  Status AllReduceMax(double* data, int64_t n) override;
  // Host buffers, through `host`.
  Status AllGather(const std::string& mine, std::vector<std::string>* all) override;
  Status Broadcast(void* data, int64_t bytes, int root) override;
  Status Barrier() override;
  Status ExchangeCounts(const std::vector<int64_t>& send_counts,
                        std::vector<int64_t>* recv_counts) override;
  // Device send / recv buffers; counts and displacements on the host.
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

  GpuResources* gpu() const { return gpu_; }
  Communicator* host() const { return host_; }

 private:
  NcclCommunicator(Communicator* host, GpuResources* gpu, ncclComm* comm)
      : host_(host), gpu_(gpu), comm_(comm) {}

  // The element types by their ncclDataType_t (an int here, to keep <nccl.h> out).
  Status AllReduceOf(void* data, int64_t n, int type, int op, const char* call);
  Status AllToAllOf(const void* send, void* recv, int64_t count, int type, int elem_bytes);
  Status AllToAllVOf(const void* send, const std::vector<int64_t>& send_counts,
                     const std::vector<int64_t>& send_displs, void* recv,
                     const std::vector<int64_t>& recv_counts,
                     const std::vector<int64_t>& recv_displs, int type, int elem_bytes);
  // Waits for the compute stream while watching for asynchronous NCCL errors.
  Status WaitForStream(const char* call);
  // Records `s` (a failed NCCL call) as broken_, aborts the NCCL communicator, returns s.
  Status Fail(Status s);

  Communicator* host_;
  GpuResources* gpu_;
  ncclComm* comm_;
  Status broken_;  // OK until an NCCL call fails; then returned by every call
};

}  // namespace moerec

#endif  // MOEREC_COMM_NCCL_COMMUNICATOR_H_
