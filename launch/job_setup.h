// What a job settles before it trains: that it alone uses its run folder (LockRunDir), that its
// data exists (EnsureSyntheticData: when the data config has a `synthetic` section and its
// train folder holds no shards, or with `force`, the dataset is generated into the config's
// train/validation/test folders and a summary is logged; with `synthetic.matching`, matching
// data (data/synthetic/matching.h) whose item corpus folder must hold shards too), and that
// every split's shards open (CheckSplits), so that a damaged test split stops the job before
// training, not after it.
#ifndef MOEREC_LAUNCH_JOB_SETUP_H_
#define MOEREC_LAUNCH_JOB_SETUP_H_

#include <memory>
#include <string>

#include "core/file_lock.h"
#include "core/gpu/resources.h"
#include "core/status.h"
#include "proto/config.pb.h"

namespace moerec {

// Paths in `data` must be resolved (LoadJobConfig). OK without doing anything when the data
// has no synthetic section or its shards exist.
Status EnsureSyntheticData(const DataConfig& data, bool force);

// Whether progress goes to a live terminal line: stdout is a terminal of one's own (mpirun hands
// ranks a pseudo terminal that ends up in logs); MOEREC_PROGRESS=1/0 overrides.
bool InteractiveProgress();

// Takes <run_dir>/LOCK for the life of the returned object (creating run_dir when missing). A
// second job on the same folder gets FailedPrecondition naming the holder's host, pid and start
// time; a lock left by a dead job is stale and is taken.
StatusOr<std::unique_ptr<FileLock>> LockRunDir(const std::string& run_dir);

// Opens every split of `data` (train, validation, test) as the trainer will: headers and
// footers of all shards checked, the files of a split agreeing with each other.
Status CheckSplits(const DataConfig& data);

// Writes the job's config, as loaded (tables filled in, data paths made absolute), to
// <run_dir>/config.pbtxt, so that `moerec eval` and `moerec predict` find the model of the
// folder's checkpoints without being told.
Status SaveRunConfig(const JobConfig& config, const std::string& run_dir);

// The GPU of a worker that is process `local_rank` of its node: device local_rank mod the
// number of visible GPUs, so that one rank per GPU is the layout of a node. Unavailable, with
// the runtime's reason, when there is no GPU (or the build has no CUDA).
StatusOr<std::unique_ptr<GpuResources>> OpenWorkerGpu(int local_rank);
inline constexpr char kRunConfigName[] = "config.pbtxt";

}  // namespace moerec

#endif  // MOEREC_LAUNCH_JOB_SETUP_H_
