// The communicator of the workers' collectives, chosen automatically for GPU workers: NCCL
// (comm/nccl_communicator.h) when the worker computes on a GPU, else the workers' MPI
// communicator itself. Meant to be called once per worker, collectively (every worker at the
// same point, after its GpuResources exist, e.g. on the device of SelectWorkerDevice in
// comm/local_rank.h):
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Communicator> nccl,
//                    MakeWorkerCommunicator(mpi_workers.get(), gpu.get()));
//   Communicator* workers = nccl != nullptr ? nccl.get() : mpi_workers.get();
//
// A non-null result is an NcclCommunicator: its all-reduces and all-to-alls take device memory
// of `gpu` (the dense gradients, the dispatched tokens), while its control collectives take
// host memory and go to `mpi_workers`, which must outlive it. Every worker must make the same
// choice (all with a GPU, or none): a world that mixes them is a configuration error the
// launcher rules out, and would hang in NCCL's bootstrap.
// Thread-safety: collective over mpi_workers, like Communicator's calls.
#ifndef MOEREC_COMM_WORKER_COMMUNICATOR_H_
#define MOEREC_COMM_WORKER_COMMUNICATOR_H_

#include <memory>

#include "comm/communicator.h"
#include "core/gpu/resources.h"

namespace moerec {

// The NCCL backend over `mpi_workers` when `gpu` is a device (non-null, not host execution);
// null (use mpi_workers, the MPI backend) when `gpu` is null or host execution. A GPU worker
// in a build without NCCL gets FailedPrecondition; NCCL's setup failures come back as
// NcclCommunicator::Create returns them (Internal, naming the call). Logs the choice.
StatusOr<std::unique_ptr<Communicator>> MakeWorkerCommunicator(Communicator* mpi_workers,
                                                               GpuResources* gpu);

// True when MakeWorkerCommunicator gives `gpu` the NCCL backend.
bool UsesNccl(const GpuResources* gpu);

}  // namespace moerec

#endif  // MOEREC_COMM_WORKER_COMMUNICATOR_H_
