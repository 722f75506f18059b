#include "comm/local_rank.h"

#include <glog/logging.h>

#include "comm/mpi_check.h"
#include "core/gpu.h"

namespace moerec {

StatusOr<int> LocalRank(MPI_Comm comm) {
  if (comm == MPI_COMM_NULL) return InvalidArgument("LocalRank: MPI_COMM_NULL");
  int rank = 0;
  MPI_RETURN_IF_ERROR(MPI_Comm_rank(comm, &rank));
  MPI_Comm node = MPI_COMM_NULL;
  MPI_RETURN_IF_ERROR(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node));
  int local = 0;
  const int rc = MPI_Comm_rank(node, &local);
  MPI_LOG_IF_ERROR(MPI_Comm_free(&node));
  if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Comm_rank(node, &local)", __FILE__, __LINE__);
  return local;
}

int DeviceForLocalRank(int local_rank, int visible_gpus) {
  CHECK_GE(local_rank, 0);
  CHECK_GT(visible_gpus, 0);
  return local_rank % visible_gpus;
}

StatusOr<int> SelectWorkerDevice(MPI_Comm comm) {
  // Collective first, so every rank takes part whether or not it sees a GPU.
  ASSIGN_OR_RETURN(const int local, LocalRank(comm));
  const GpuInventory inventory = ListGpus();
  if (inventory.gpus.empty()) {
    return Unavailable("SelectWorkerDevice: no GPU visible: " + inventory.why_none);
  }
  return DeviceForLocalRank(local, static_cast<int>(inventory.gpus.size()));
}

}  // namespace moerec
