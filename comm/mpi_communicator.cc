#include "comm/mpi_communicator.h"

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "comm/internal/all_to_all_check.h"
#include "comm/mpi_check.h"

namespace moerec {
namespace {

// MPI counts are ints: large buffers go in chunks.
constexpr int64_t kChunk = int64_t{1} << 28;

std::vector<int> ToInts(const std::vector<int64_t>& v) {
  return std::vector<int>(v.begin(), v.end());
}

}  // namespace

bool MpiSession::LaunchedByMpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

StatusOr<std::unique_ptr<MpiSession>> MpiSession::Init(int* argc, char*** argv) {
  int provided = 0;
  MPI_RETURN_IF_ERROR(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
  MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  if (provided < MPI_THREAD_MULTIPLE) {
    MPI_LOG_IF_ERROR(MPI_Finalize());
    return FailedPrecondition("the MPI library gives thread level " + std::to_string(provided) +
                              "; moerec needs MPI_THREAD_MULTIPLE");
  }
  int rank = 0, size = 1;
  MPI_RETURN_IF_ERROR(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  MPI_RETURN_IF_ERROR(MPI_Comm_size(MPI_COMM_WORLD, &size));
  return std::unique_ptr<MpiSession>(new MpiSession(rank, size));
}

MpiSession::~MpiSession() { MPI_LOG_IF_ERROR(MPI_Finalize()); }

StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(MPI_Comm comm, bool owned) {
  if (comm == MPI_COMM_NULL) return InvalidArgument("MpiCommunicator::Create: MPI_COMM_NULL");
  MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
  int rank = 0, size = 1;
  MPI_RETURN_IF_ERROR(MPI_Comm_rank(comm, &rank));
  MPI_RETURN_IF_ERROR(MPI_Comm_size(comm, &size));
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(comm, owned, rank, size));
}

MpiCommunicator::~MpiCommunicator() {
  if (owned_ && comm_ != MPI_COMM_NULL) MPI_LOG_IF_ERROR(MPI_Comm_free(&comm_));
}

Status MpiCommunicator::AllReduce(void* data, int64_t n, MPI_Datatype type, MPI_Op op) {
  int elem = 0;
  MPI_RETURN_IF_ERROR(MPI_Type_size(type, &elem));
  char* p = static_cast<char*>(data);
  for (int64_t done = 0; done < n; done += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, n - done));
    MPI_RETURN_IF_ERROR(MPI_Allreduce(MPI_IN_PLACE, p + done * elem, count, type, op, comm_));
  }
  return Status::OK();
}

Status MpiCommunicator::AllReduceSum(float* data, int64_t n) {
  return AllReduce(data, n, MPI_FLOAT, MPI_SUM);
}
Status MpiCommunicator::AllReduceSum(double* data, int64_t n) {
  return AllReduce(data, n, MPI_DOUBLE, MPI_SUM);
}
Status MpiCommunicator::AllReduceMax(double* data, int64_t n) {
  return AllReduce(data, n, MPI_DOUBLE, MPI_MAX);
}

Status MpiCommunicator::AllGather(const std::string& mine, std::vector<std::string>* all) {
  if (mine.size() > static_cast<size_t>(kChunk)) {
    return InvalidArgument("AllGather of " + std::to_string(mine.size()) + " bytes is too large");
  }
  const int my_size = static_cast<int>(mine.size());
  std::vector<int> sizes(size_), displs(size_);
  MPI_RETURN_IF_ERROR(MPI_Allgather(&my_size, 1, MPI_INT, sizes.data(), 1, MPI_INT, comm_));
  int64_t total = 0;
  for (int r = 0; r < size_; ++r) {
    displs[r] = static_cast<int>(total);
    total += sizes[r];
  }
  if (total > kChunk)
    return InvalidArgument("AllGather total of " + std::to_string(total) + " bytes is too large");
  std::string buffer(total, '\0');
  MPI_RETURN_IF_ERROR(MPI_Allgatherv(mine.data(), my_size, MPI_BYTE, buffer.data(), sizes.data(),
                                     displs.data(), MPI_BYTE, comm_));
  all->resize(size_);
  for (int r = 0; r < size_; ++r) (*all)[r] = buffer.substr(displs[r], sizes[r]);
  return Status::OK();
}

Status MpiCommunicator::Broadcast(void* data, int64_t bytes, int root) {
  char* p = static_cast<char*>(data);
  for (int64_t done = 0; done < bytes; done += kChunk) {
    const int count = static_cast<int>(std::min(kChunk, bytes - done));
    MPI_RETURN_IF_ERROR(MPI_Bcast(p + done, count, MPI_BYTE, root, comm_));
  }
  return Status::OK();
}

Status MpiCommunicator::Barrier() {
  MPI_RETURN_IF_ERROR(MPI_Barrier(comm_));
  return Status::OK();
}

Status MpiCommunicator::SwapCounts(const std::vector<int64_t>* counts,
                                   std::vector<int64_t>* received) {
  const std::vector<int64_t> bad(size_, -1);
  received->assign(size_, 0);
  MPI_RETURN_IF_ERROR(MPI_Alltoall(counts != nullptr ? counts->data() : bad.data(), 1, MPI_INT64_T,
                                   received->data(), 1, MPI_INT64_T, comm_));
  return Status::OK();
}

Status MpiCommunicator::ExchangeCounts(const std::vector<int64_t>& send_counts,
                                       std::vector<int64_t>* recv_counts) {
  // A rank with bad counts sends -1 to everyone, so every rank fails together.
  const Status mine = CheckCounts("ExchangeCounts: send_counts", send_counts, size_);
  std::vector<int64_t> received;
  RETURN_IF_ERROR(SwapCounts(mine.ok() ? &send_counts : nullptr, &received));
  if (!mine.ok()) return mine;
  for (int r = 0; r < size_; ++r) {
    if (received[r] < 0) {
      return InvalidArgument("ExchangeCounts: rank " + std::to_string(r) +
                             " passed bad send_counts");
    }
  }
  *recv_counts = std::move(received);
  return Status::OK();
}

Status MpiCommunicator::AllToAllOf(const void* send, void* recv, int64_t count, MPI_Datatype type) {
  // count is the same on every rank (the contract), so a bad one fails on every rank.
  RETURN_IF_ERROR(CheckAllToAll(send, recv, count, INT_MAX));
  const int n = static_cast<int>(count);
  MPI_RETURN_IF_ERROR(MPI_Alltoall(send, n, type, recv, n, type, comm_));
  return Status::OK();
}

Status MpiCommunicator::AllToAllVOf(const void* send, const std::vector<int64_t>& send_counts,
                                    const std::vector<int64_t>& send_displs, void* recv,
                                    const std::vector<int64_t>& recv_counts,
                                    const std::vector<int64_t>& recv_displs, MPI_Datatype type) {
  Status mine = CheckAllToAllV(send, send_counts, send_displs, recv, recv_counts, recv_displs,
                               size_, INT_MAX);
  // sent[r]: what rank r sends here; -1 when r's own arguments are bad.
  std::vector<int64_t> sent;
  RETURN_IF_ERROR(SwapCounts(mine.ok() ? &send_counts : nullptr, &sent));
  if (mine.ok()) mine = CheckRecvCounts(rank_, sent, recv_counts);
  // The highest rank that failed, plus one; 0 when none did.
  const int failed_here = mine.ok() ? 0 : rank_ + 1;
  int failed = 0;
  MPI_RETURN_IF_ERROR(MPI_Allreduce(&failed_here, &failed, 1, MPI_INT, MPI_MAX, comm_));
  if (!mine.ok()) return mine;
  if (failed > 0) {
    return InvalidArgument("AllToAllV: rank " + std::to_string(failed - 1) +
                           " reported a bad argument or a count mismatch");
  }
  const std::vector<int> sc = ToInts(send_counts), sd = ToInts(send_displs);
  const std::vector<int> rc = ToInts(recv_counts), rd = ToInts(recv_displs);
  MPI_RETURN_IF_ERROR(
      MPI_Alltoallv(send, sc.data(), sd.data(), type, recv, rc.data(), rd.data(), type, comm_));
  return Status::OK();
}

Status MpiCommunicator::AllToAll(const float* send, float* recv, int64_t count) {
  return AllToAllOf(send, recv, count, MPI_FLOAT);
}
Status MpiCommunicator::AllToAll(const int32_t* send, int32_t* recv, int64_t count) {
  return AllToAllOf(send, recv, count, MPI_INT32_T);
}
Status MpiCommunicator::AllToAll(const int64_t* send, int64_t* recv, int64_t count) {
  return AllToAllOf(send, recv, count, MPI_INT64_T);
}

Status MpiCommunicator::AllToAllV(const float* send, const std::vector<int64_t>& send_counts,
                                  const std::vector<int64_t>& send_displs, float* recv,
                                  const std::vector<int64_t>& recv_counts,
                                  const std::vector<int64_t>& recv_displs) {
  return AllToAllVOf(send, send_counts, send_displs, recv, recv_counts, recv_displs, MPI_FLOAT);
}
Status MpiCommunicator::AllToAllV(const int32_t* send, const std::vector<int64_t>& send_counts,
                                  const std::vector<int64_t>& send_displs, int32_t* recv,
                                  const std::vector<int64_t>& recv_counts,
                                  const std::vector<int64_t>& recv_displs) {
  return AllToAllVOf(send, send_counts, send_displs, recv, recv_counts, recv_displs, MPI_INT32_T);
}
Status MpiCommunicator::AllToAllV(const int64_t* send, const std::vector<int64_t>& send_counts,
                                  const std::vector<int64_t>& send_displs, int64_t* recv,
                                  const std::vector<int64_t>& recv_counts,
                                  const std::vector<int64_t>& recv_displs) {
  return AllToAllVOf(send, send_counts, send_displs, recv, recv_counts, recv_displs, MPI_INT64_T);
}

}  // namespace moerec
