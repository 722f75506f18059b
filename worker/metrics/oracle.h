// The oracle of a dataset that carries true probabilities (the truth column that `moerec gen`
// writes): the metrics of the truth scored as the predictions. Its AUC is the ceiling a trained
// model is compared with.
//
// OracleReport reads the split in file order (the order `moerec gen` wrote it) and stops after
// `max_samples` samples: the samples are i.i.d., so the head is representative, and the memory
// DomainTaskMetrics keeps stays bounded on huge splits.
// Thread-safety: pure functions (the reader's threads are its own).
#ifndef MOEREC_WORKER_METRICS_ORACLE_H_
#define MOEREC_WORKER_METRICS_ORACLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "proto/config.pb.h"
#include "worker/metrics/domain_task_metrics.h"

namespace moerec {

inline constexpr int64_t kOracleMaxSamples = 2000000;

// `paths`: shard files or folders of a split. `data` gives the domain and task names.
// FailedPrecondition when the shards carry no truth column; the reader's errors otherwise.
StatusOr<Report> OracleReport(const std::vector<std::string>& paths, const DataConfig& data,
                              int64_t max_samples = kOracleMaxSamples);

// Lines for the log: per split its oracle mean AUC and the count-weighted AUC of every task.
// `split_names` and `reports` have the same length; ends with a newline.
std::string FormatOracleTable(const std::vector<std::string>& split_names,
                              const std::vector<Report>& reports);

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_ORACLE_H_
