// A training job as one MPI world (DESIGN.md §2): the cluster config's layout gives each rank
// its role; workers share a communicator for dense all-reduce and metrics, and talk to the
// servers on a duplicate of the world communicator reserved for parameter-server traffic.
// Servers run their request loop until every worker has shut them down; workers train.
// The chief (world rank of worker 0) generates missing synthetic data before anyone reads it.
#ifndef MOEREC_LAUNCH_DISTRIBUTED_JOB_H_
#define MOEREC_LAUNCH_DISTRIBUTED_JOB_H_

#include "comm/mpi_communicator.h"
#include "core/status.h"
#include "proto/config.pb.h"
#include "worker/trainer.h"

namespace moerec {

// Runs this rank's part of the job. A Status that is not OK means this rank failed; the caller
// aborts the world so that no rank waits forever.
Status RunDistributedTraining(const JobConfig& config, const Trainer::Options& options,
                              const MpiSession& mpi);

}  // namespace moerec

#endif  // MOEREC_LAUNCH_DISTRIBUTED_JOB_H_
