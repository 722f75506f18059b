#include "comm/worker_communicator.h"

#include <glog/logging.h>

#ifdef MOEREC_HAVE_NCCL
#include "comm/nccl_communicator.h"
#endif

namespace moerec {

bool UsesNccl(const GpuResources* gpu) { return gpu != nullptr && !gpu->host_execution(); }

StatusOr<std::unique_ptr<Communicator>> MakeWorkerCommunicator(Communicator* mpi_workers,
                                                               GpuResources* gpu) {
  if (mpi_workers == nullptr) return InvalidArgument("MakeWorkerCommunicator: no communicator");
  if (!UsesNccl(gpu)) {
    LOG_IF(INFO, mpi_workers->rank() == 0)
        << "worker collectives: MPI (" << (gpu == nullptr ? "CPU workers" : gpu->Describe()) << ")";
    return std::unique_ptr<Communicator>();
  }
#ifdef MOEREC_HAVE_NCCL
  ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> nccl,
                   NcclCommunicator::Create(mpi_workers, gpu));
  LOG_IF(INFO, mpi_workers->rank() == 0) << "worker collectives: NCCL over " << mpi_workers->size()
                                         << " workers (rank 0 on " << gpu->Describe() << ")";
  return std::unique_ptr<Communicator>(std::move(nccl));
#else
  return FailedPrecondition("MakeWorkerCommunicator: a GPU worker (" + gpu->Describe() +
                            ") needs NCCL, and this build has none (MOEREC_CUDA=OFF or NCCL "
                            "not found)");
#endif
}

}  // namespace moerec
