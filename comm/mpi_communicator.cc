#include "comm/mpi_communicator.h"

#include <cstdlib>

#include "comm/mpi_check.h"

namespace moerec {
namespace {

// MPI counts are ints: large buffers go in chunks.
constexpr int64_t kChunk = int64_t{1} << 28;

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

}  // namespace moerec
