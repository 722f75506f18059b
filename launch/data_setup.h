// Making sure a job's data exists before training: when the data config has a `synthetic`
// section and its train folder holds no shards (or `force`), the dataset is generated into the
// config's train/validation/test folders and a summary is logged.
#ifndef MOEREC_LAUNCH_DATA_SETUP_H_
#define MOEREC_LAUNCH_DATA_SETUP_H_

#include "core/status.h"
#include "proto/config.pb.h"

namespace moerec {

// Paths in `data` must be resolved (LoadJobConfig). OK without doing anything when the data
// has no synthetic section or its shards exist.
Status EnsureSyntheticData(const DataConfig& data, bool force);

}  // namespace moerec

#endif  // MOEREC_LAUNCH_DATA_SETUP_H_
