#include "comm/messenger.h"

#include <climits>

#include "comm/mpi_check.h"

namespace moerec {

StatusOr<std::unique_ptr<MpiMessenger>> MpiMessenger::Create(MPI_Comm comm) {
  if (comm == MPI_COMM_NULL) return InvalidArgument("MpiMessenger::Create: MPI_COMM_NULL");
  MPI_Comm own = MPI_COMM_NULL;
  MPI_RETURN_IF_ERROR(MPI_Comm_dup(comm, &own));
  MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(own, MPI_ERRORS_RETURN));
  int rank = 0, size = 1;
  MPI_RETURN_IF_ERROR(MPI_Comm_rank(own, &rank));
  MPI_RETURN_IF_ERROR(MPI_Comm_size(own, &size));
  return std::unique_ptr<MpiMessenger>(new MpiMessenger(own, rank, size));
}

MpiMessenger::~MpiMessenger() {
  if (comm_ != MPI_COMM_NULL) MPI_LOG_IF_ERROR(MPI_Comm_free(&comm_));
}

Status MpiMessenger::Send(int dest, int tag, std::string_view bytes) {
  if (dest < 0 || dest >= size_) {
    return InvalidArgument("message to rank " + std::to_string(dest) + " of " +
                           std::to_string(size_));
  }
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return InvalidArgument("message of " + std::to_string(bytes.size()) +
                           " bytes is past MPI's int count");
  }
  MPI_RETURN_IF_ERROR(
      MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, tag, comm_));
  return Status::OK();
}

Status MpiMessenger::Receive(int source, int tag, std::string* bytes, int* from) {
  if (source != kAnySource && (source < 0 || source >= size_)) {
    return InvalidArgument("message from rank " + std::to_string(source) + " of " +
                           std::to_string(size_));
  }
  MPI_Status status;
  MPI_RETURN_IF_ERROR(
      MPI_Probe(source == kAnySource ? MPI_ANY_SOURCE : source, tag, comm_, &status));
  int count = 0;
  MPI_RETURN_IF_ERROR(MPI_Get_count(&status, MPI_BYTE, &count));
  bytes->resize(static_cast<size_t>(count));
  MPI_RETURN_IF_ERROR(
      MPI_Recv(bytes->data(), count, MPI_BYTE, status.MPI_SOURCE, tag, comm_, MPI_STATUS_IGNORE));
  *from = status.MPI_SOURCE;
  return Status::OK();
}

}  // namespace moerec
