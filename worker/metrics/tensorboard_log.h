// TensorBoardLog: the run's metrics as TensorBoard event files in <run_dir>/tb/, derived from the
// same lines that go to metrics.jsonl (MetricsLog), so both always hold the same figures. Each
// metrics line becomes one event at its "step" (docs/monitoring.md lists every tag):
//   "train"  train/loss, train/samples_per_sec, time/ms_<phase>, wire/<what>_bytes_per_step,
//            ps/rows, ps/rows/<table>, ps/resident_rows, ps/hit_rate, ps/worker_cache_hit_rate,
//            experts/load_cv, experts/load_max_mean, experts/active_experts_{mean,max} (SMES's
//            active set), experts/tokens_dropped, experts/load/<e>, the histogram
//            experts/load (the experts' shares), per (domain, task) the histogram
//            experts/load/<d>/<t> (the models' "expert_load/<d>/<t>.<e>"), other model scalars
//            under model/<name>
//   "eval"   val/<metric>/<domain>/<task> (auc, gauc, logloss, calibration, oracle_auc),
//            val/mean_auc, val/weighted_auc, val/mean_auc/<task>, ...
//   "final"  test/... like val/, at the final step
// Other lines (start, checkpoint, phase, ...) carry no series and are skipped.
// Thread-safe (the writer is).
#ifndef MOEREC_WORKER_METRICS_TENSORBOARD_LOG_H_
#define MOEREC_WORKER_METRICS_TENSORBOARD_LOG_H_

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "worker/metrics/event_file.h"
#include "worker/metrics/json_reader.h"

namespace moerec {

class TensorBoardLog {
 public:
  // A new event file in `dir` (created when missing).
  static StatusOr<std::unique_ptr<TensorBoardLog>> Open(const std::string& dir,
                                                        const EventFileWriter::Options& options);

  // Adds the series of one metrics line (a JSON object as MetricsLog writes it).
  // InvalidArgument when the line is not a JSON object.
  Status Add(std::string_view metrics_line);
  Status Flush() { return writer_->Flush(); }
  const std::string& path() const { return writer_->path(); }

  // The summary of one parsed metrics line; empty when the line has no series.
  static TbSummary SummaryOf(const JsonValue& line);

 private:
  explicit TensorBoardLog(std::unique_ptr<EventFileWriter> writer) : writer_(std::move(writer)) {}
  std::unique_ptr<EventFileWriter> writer_;
};

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_TENSORBOARD_LOG_H_
