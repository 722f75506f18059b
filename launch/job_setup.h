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
#include "core/status.h"
#include "proto/config.pb.h"

namespace moerec {

// Paths in `data` must be resolved (LoadJobConfig). OK without doing anything when the data
// has no synthetic section or its shards exist.
Status EnsureSyntheticData(const DataConfig& data, bool force);

// Takes <run_dir>/LOCK for the life of the returned object (creating run_dir when missing). A
// second job on the same folder gets FailedPrecondition naming the holder's host, pid and start
// time; a lock left by a dead job is stale and is taken.
StatusOr<std::unique_ptr<FileLock>> LockRunDir(const std::string& run_dir);

// Opens every split of `data` (train, validation, test) as the trainer will: headers and
// footers of all shards checked, the files of a split agreeing with each other.
Status CheckSplits(const DataConfig& data);

}  // namespace moerec

#endif  // MOEREC_LAUNCH_JOB_SETUP_H_
