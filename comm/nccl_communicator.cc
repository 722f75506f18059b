#include "comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "comm/internal/all_to_all_check.h"
#include "core/gpu/check.h"

namespace moerec {
namespace {

// NCCL counts are size_t; the limit only keeps size() * count and displacement + count, in
// bytes, inside int64.
constexpr int64_t kMaxElements = std::numeric_limits<int64_t>::max() / 16;

cudaStream_t ComputeStream(const GpuResources* gpu) {
  return static_cast<cudaStream_t>(gpu->stream(GpuResources::kCompute));
}

// A device buffer of `gpu`, or a program error: NCCL would fault (or hang the peers) on host
// memory. Null is allowed where nothing is moved.
void CheckDeviceBuffer(const char* call, const char* what, const void* p, const GpuResources* gpu) {
  if (p == nullptr) return;
  cudaPointerAttributes attr;
  MOEREC_GPU_CHECK(cudaPointerGetAttributes(&attr, p));
  CHECK(attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged)
      << call << ": " << what << " is host memory; NcclCommunicator takes device memory of "
      << gpu->Describe();
  CHECK(attr.type == cudaMemoryTypeManaged || attr.device == gpu->device())
      << call << ": " << what << " is memory of cuda:" << attr.device
      << ", the communicator's device is " << gpu->Describe();
}

// The failure of a collective's NCCL (or CUDA) call, for Fail().
template <typename Result>
Status CallFailed(Result result, const char* call, const char* file, int line) {
  return Unavailable(gpu_check::Message(call, gpu_check::Describe(result), file, line));
}

// What rank 0 broadcasts at Create: whether it made an id, and the id. Every rank waits in the
// same Broadcast, so a failure on rank 0 fails every rank instead of leaving them in
// ncclCommInitRank.
struct Bootstrap {
  int32_t ok = 0;
  ncclUniqueId id;
};

}  // namespace

// A collective's NCCL or CUDA call (or a result of one, named by `text`): on failure, the
// communicator is aborted and the call's status returned (and kept for every later call).
#define MOEREC_NCCL_RESULT(result, text)                                      \
  do {                                                                        \
    const auto moerec_nccl_result_ = (result);                                \
    if (::moerec::gpu_check::Failed(moerec_nccl_result_)) {                   \
      return Fail(CallFailed(moerec_nccl_result_, text, __FILE__, __LINE__)); \
    }                                                                         \
  } while (0)
#define MOEREC_NCCL_CALL(call) MOEREC_NCCL_RESULT(call, #call)

StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(Communicator* host,
                                                                     GpuResources* gpu) {
  if (host == nullptr) return InvalidArgument("NcclCommunicator::Create: no host communicator");
  if (gpu == nullptr) return InvalidArgument("NcclCommunicator::Create: no GPU resources");
  if (gpu->host_execution()) {
    return FailedPrecondition(
        "NcclCommunicator::Create: NCCL cannot run under host execution; GPU workers need a "
        "device (GpuResourcesOptions::host_execution = false)");
  }
  Bootstrap boot;
  std::memset(&boot.id, 0, sizeof(boot.id));
  Status made;
  if (host->rank() == 0) {
    const ncclResult_t rc = ncclGetUniqueId(&boot.id);
    if (rc == ncclSuccess) {
      boot.ok = 1;
    } else {
      made = Internal(gpu_check::Message("ncclGetUniqueId(&boot.id)", gpu_check::Describe(rc),
                                         __FILE__, __LINE__));
    }
  }
  RETURN_IF_ERROR(host->Broadcast(&boot, sizeof(boot), /*root=*/0));
  if (!made.ok()) return made;
  if (boot.ok != 1) {
    return Internal("NcclCommunicator::Create: rank 0 could not make an NCCL unique id");
  }
  MOEREC_GPU_RETURN_IF_ERROR(cudaSetDevice(gpu->device()));
  ncclComm_t comm = nullptr;
  MOEREC_GPU_RETURN_IF_ERROR(ncclCommInitRank(&comm, host->size(), boot.id, host->rank()));
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(host, gpu, comm));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;  // aborted by Fail
  cudaSetDevice(gpu_->device());
  const ncclResult_t rc = ncclCommDestroy(comm_);
  if (rc != ncclSuccess) LOG(WARNING) << "ncclCommDestroy: " << gpu_check::Describe(rc);
}

Status NcclCommunicator::Fail(Status s) {
  if (broken_.ok()) {
    broken_ = s;
    // The communicator may be stuck in a collective with a peer that is gone; aborting it
    // releases the stream, and no later call uses it.
    const ncclResult_t rc = ncclCommAbort(comm_);
    if (rc != ncclSuccess) LOG(WARNING) << "ncclCommAbort: " << gpu_check::Describe(rc);
    comm_ = nullptr;
  }
  return s;
}

Status NcclCommunicator::WaitForStream(const char* call) {
  // cudaStreamSynchronize would block forever on a collective whose peer died; polling lets
  // an asynchronous NCCL error (ncclCommGetAsyncError) end the wait.
  const cudaStream_t stream = ComputeStream(gpu_);
  for (int spins = 0;; ++spins) {
    const cudaError_t done = cudaStreamQuery(stream);
    if (done == cudaSuccess) return Status::OK();
    if (done != cudaErrorNotReady) {
      return Fail(Unavailable(std::string(call) +
                              ": waiting for the compute stream: " + gpu_check::Describe(done)));
    }
    ncclResult_t async = ncclSuccess;
    MOEREC_NCCL_CALL(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      return Fail(Unavailable(std::string(call) + ": asynchronous NCCL error (a peer gone?): " +
                              gpu_check::Describe(async)));
    }
    // Spin briefly for short collectives, then give the CPU back to the other ranks.
    if (spins < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

Status NcclCommunicator::AllReduceOf(void* data, int64_t n, int type, int op, const char* call) {
  RETURN_IF_ERROR(broken_);
  if (n < 0) return InvalidArgument(std::string(call) + ": n = " + std::to_string(n) + " < 0");
  if (n == 0) return Status::OK();
  CheckDeviceBuffer(call, "data", data, gpu_);
  MOEREC_NCCL_CALL(ncclAllReduce(data, data, static_cast<size_t>(n),
                                 static_cast<ncclDataType_t>(type), static_cast<ncclRedOp_t>(op),
                                 comm_, ComputeStream(gpu_)));
  return WaitForStream(call);
}

Status NcclCommunicator::AllReduceSum(float* data, int64_t n) {
  return AllReduceOf(data, n, ncclFloat32, ncclSum, "AllReduceSum");
}
Status NcclCommunicator::AllReduceSum(double* data, int64_t n) {
  return AllReduceOf(data, n, ncclFloat64, ncclSum, "AllReduceSum");
}
Status NcclCommunicator::AllReduceMax(double* data, int64_t n) {
  return AllReduceOf(data, n, ncclFloat64, ncclMax, "AllReduceMax");
}

Status NcclCommunicator::AllGather(const std::string& mine, std::vector<std::string>* all) {
  return host_->AllGather(mine, all);
}
Status NcclCommunicator::Broadcast(void* data, int64_t bytes, int root) {
  return host_->Broadcast(data, bytes, root);
}
Status NcclCommunicator::Barrier() { return host_->Barrier(); }
Status NcclCommunicator::ExchangeCounts(const std::vector<int64_t>& send_counts,
                                        std::vector<int64_t>* recv_counts) {
  return host_->ExchangeCounts(send_counts, recv_counts);
}

Status NcclCommunicator::AllToAllOf(const void* send, void* recv, int64_t count, int type,
                                    int elem_bytes) {
  RETURN_IF_ERROR(broken_);
  // count is the same on every rank (the contract), so a bad one fails on every rank.
  RETURN_IF_ERROR(CheckAllToAll(send, recv, count, kMaxElements / size()));
  if (count == 0) return Status::OK();
  CheckDeviceBuffer("AllToAll", "send", send, gpu_);
  CheckDeviceBuffer("AllToAll", "recv", recv, gpu_);
  const auto data_type = static_cast<ncclDataType_t>(type);
  const cudaStream_t stream = ComputeStream(gpu_);
  const int64_t block = count * elem_bytes;
  // A failed send or recv still closes the group, so NCCL's group state stays balanced.
  ncclResult_t rc = ncclGroupStart();
  MOEREC_NCCL_RESULT(rc, "ncclGroupStart()");
  for (int r = 0; r < size() && rc == ncclSuccess; ++r) {
    rc = ncclSend(static_cast<const char*>(send) + r * block, static_cast<size_t>(count), data_type,
                  r, comm_, stream);
    if (rc == ncclSuccess) {
      rc = ncclRecv(static_cast<char*>(recv) + r * block, static_cast<size_t>(count), data_type, r,
                    comm_, stream);
    }
  }
  const ncclResult_t end = ncclGroupEnd();
  MOEREC_NCCL_RESULT(rc, "ncclSend / ncclRecv of AllToAll");
  MOEREC_NCCL_RESULT(end, "ncclGroupEnd() of AllToAll");
  return WaitForStream("AllToAll");
}

Status NcclCommunicator::AllToAllVOf(const void* send, const std::vector<int64_t>& send_counts,
                                     const std::vector<int64_t>& send_displs, void* recv,
                                     const std::vector<int64_t>& recv_counts,
                                     const std::vector<int64_t>& recv_displs, int type,
                                     int elem_bytes) {
  RETURN_IF_ERROR(broken_);
  const int n = size();
  Status mine = CheckAllToAllV(send, send_counts, send_displs, recv, recv_counts, recv_displs, n,
                               kMaxElements);
  // The count cross-check of MpiCommunicator, over `host`: every rank sends count + 1 to each
  // peer (0 when its own arguments are bad), so sent[r] is what r sends here, -1 for a bad r.
  std::vector<int64_t> shifted(n, 0), sent;
  if (mine.ok()) {
    for (int r = 0; r < n; ++r) shifted[r] = send_counts[r] + 1;
  }
  RETURN_IF_ERROR(host_->ExchangeCounts(shifted, &sent));
  for (int64_t& c : sent) c -= 1;
  if (mine.ok()) mine = CheckRecvCounts(rank(), sent, recv_counts);
  // The highest rank that failed, plus one; 0 when none did (exact in a double).
  double failed = mine.ok() ? 0.0 : rank() + 1.0;
  RETURN_IF_ERROR(host_->AllReduceMax(&failed, 1));
  if (!mine.ok()) return mine;
  if (failed > 0) {
    return InvalidArgument("AllToAllV: rank " + std::to_string(static_cast<int>(failed) - 1) +
                           " reported a bad argument or a count mismatch");
  }
  bool moves = false;
  for (int r = 0; r < n; ++r) moves = moves || send_counts[r] > 0 || recv_counts[r] > 0;
  if (!moves) return Status::OK();
  CheckDeviceBuffer("AllToAllV", "send", send, gpu_);
  CheckDeviceBuffer("AllToAllV", "recv", recv, gpu_);
  const auto data_type = static_cast<ncclDataType_t>(type);
  const cudaStream_t stream = ComputeStream(gpu_);
  // Empty blocks are left out on both sides alike (the counts agree, checked above).
  ncclResult_t rc = ncclGroupStart();
  MOEREC_NCCL_RESULT(rc, "ncclGroupStart()");
  for (int r = 0; r < n && rc == ncclSuccess; ++r) {
    if (send_counts[r] > 0) {
      rc = ncclSend(static_cast<const char*>(send) + send_displs[r] * elem_bytes,
                    static_cast<size_t>(send_counts[r]), data_type, r, comm_, stream);
    }
    if (rc == ncclSuccess && recv_counts[r] > 0) {
      rc = ncclRecv(static_cast<char*>(recv) + recv_displs[r] * elem_bytes,
                    static_cast<size_t>(recv_counts[r]), data_type, r, comm_, stream);
    }
  }
  const ncclResult_t end = ncclGroupEnd();
  MOEREC_NCCL_RESULT(rc, "ncclSend / ncclRecv of AllToAllV");
  MOEREC_NCCL_RESULT(end, "ncclGroupEnd() of AllToAllV");
  return WaitForStream("AllToAllV");
}

Status NcclCommunicator::AllToAll(const float* send, float* recv, int64_t count) {
  return AllToAllOf(send, recv, count, ncclFloat32, sizeof(float));
}
Status NcclCommunicator::AllToAll(const int32_t* send, int32_t* recv, int64_t count) {
  return AllToAllOf(send, recv, count, ncclInt32, sizeof(int32_t));
}
Status NcclCommunicator::AllToAll(const int64_t* send, int64_t* recv, int64_t count) {
  return AllToAllOf(send, recv, count, ncclInt64, sizeof(int64_t));
}

Status NcclCommunicator::AllToAllV(const float* send, const std::vector<int64_t>& send_counts,
                                   const std::vector<int64_t>& send_displs, float* recv,
                                   const std::vector<int64_t>& recv_counts,
                                   const std::vector<int64_t>& recv_displs) {
  return AllToAllVOf(send, send_counts, send_displs, recv, recv_counts, recv_displs, ncclFloat32,
                     sizeof(float));
}
Status NcclCommunicator::AllToAllV(const int32_t* send, const std::vector<int64_t>& send_counts,
                                   const std::vector<int64_t>& send_displs, int32_t* recv,
                                   const std::vector<int64_t>& recv_counts,
                                   const std::vector<int64_t>& recv_displs) {
  return AllToAllVOf(send, send_counts, send_displs, recv, recv_counts, recv_displs, ncclInt32,
                     sizeof(int32_t));
}
Status NcclCommunicator::AllToAllV(const int64_t* send, const std::vector<int64_t>& send_counts,
                                   const std::vector<int64_t>& send_displs, int64_t* recv,
                                   const std::vector<int64_t>& recv_counts,
                                   const std::vector<int64_t>& recv_displs) {
  return AllToAllVOf(send, send_counts, send_displs, recv, recv_counts, recv_displs, ncclInt64,
                     sizeof(int64_t));
}

}  // namespace moerec
