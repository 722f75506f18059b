// Which GPU a worker process uses: ranks on one node are numbered 0, 1, ... by LocalRank (the
// ranks of an MPI communicator that share the node's memory), and local rank r takes device
// r mod (visible GPUs), so W workers on a node with W GPUs get one GPU each and more workers
// than GPUs share them round-robin (a CPU fallback is the caller's choice, not made here).
//
//   ASSIGN_OR_RETURN(const int device, SelectWorkerDevice(workers_mpi_comm));
//   GpuResourcesOptions options;
//   options.device = device;
//
// Thread-safety: LocalRank and SelectWorkerDevice are collective over `comm` (every rank calls
// them, in the same order as its other collectives on `comm`); DeviceForLocalRank is pure.
#ifndef MOEREC_COMM_LOCAL_RANK_H_
#define MOEREC_COMM_LOCAL_RANK_H_

#include <mpi.h>

#include "core/status.h"

namespace moerec {

// This process's rank among the ranks of `comm` on its node (MPI_Comm_split_type with
// MPI_COMM_TYPE_SHARED, keyed by the rank in `comm`, so local ranks follow comm's order).
StatusOr<int> LocalRank(MPI_Comm comm);

// local_rank mod visible_gpus; CHECKs local_rank >= 0 and visible_gpus > 0.
int DeviceForLocalRank(int local_rank, int visible_gpus);

// DeviceForLocalRank(LocalRank(comm), the GPUs this process sees); Unavailable, with the
// reason (core/gpu.h), when it sees none.
StatusOr<int> SelectWorkerDevice(MPI_Comm comm);

}  // namespace moerec

#endif  // MOEREC_COMM_LOCAL_RANK_H_
