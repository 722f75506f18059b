// Writers for a DomainTaskMetrics Report: JSON fields for a MetricsLog line and an aligned
// text table for the log. Undefined values (NaN) become null in JSON and "-" in the table.
// Pure functions; thread-safe.
#ifndef MOEREC_WORKER_METRICS_REPORT_FORMAT_H_
#define MOEREC_WORKER_METRICS_REPORT_FORMAT_H_

#include <string>
#include <string_view>

#include "worker/metrics/domain_task_metrics.h"
#include "worker/metrics/json.h"

namespace moerec {

// Adds the report to `out`, every key starting with `prefix` (e.g. "test_", "val_"); <d> and
// <t> are the report's domain and task names:
//   <prefix>auc/<d>/<t>, gauc/…, logloss/…, calibration/…, count/…, positives/…;
//   <prefix>oracle_auc/<d>/<t> and oracle_logloss/… for cells with truth;
//   <prefix>weighted_auc/<t>, <prefix>mean_auc/<t> per task;
//   <prefix>mean_auc, <prefix>weighted_auc, and <prefix>oracle_mean_auc when any cell has truth;
//   matching models: <prefix>recall@K, <prefix>recall@K/<d>, hr@…, ndcg@… (report.retrieval).
void AddReportFields(const Report& report, std::string_view prefix, JsonObject* out);

// One row per (domain, task): count, positive rate, AUC, GAUC, LogLoss, calibration, and the
// oracle AUC when any cell has truth; then per task weighted / mean AUC rows and the overall
// means; then, for matching models, FormatRetrievalTable. Ends with a newline.
std::string FormatReportTable(const Report& report);

// The retrieval figures: a row for all queries and one per scenario (its query count, then
// every recall@K, hr@K, ndcg@K). Ends with a newline.
std::string FormatRetrievalTable(const Report& report);

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_REPORT_FORMAT_H_
