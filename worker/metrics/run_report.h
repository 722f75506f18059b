// The run report (`moerec report`): one self-contained HTML page about one or more run folders,
// drawn from their metrics.jsonl (the lines the trainer writes, README "metrics.jsonl"): the
// runs side by side in a table; training loss, validation AUC, throughput and expert-load
// balance over steps; test AUC per (domain, task) next to the oracle AUC where the data knows
// its true probabilities; the expert-load heatmap; the time split of a step; parameter-server
// and all-reduce traffic. Plots are inline SVG (svg_plot.h) and the styles inline: the page
// loads nothing from anywhere (docs/monitoring.md describes it).
// Values; thread-compatible.
#ifndef MOEREC_WORKER_METRICS_RUN_REPORT_H_
#define MOEREC_WORKER_METRICS_RUN_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "worker/metrics/json_reader.h"

namespace moerec {

// What one run folder's metrics.jsonl holds. A step logged twice (a restarted job trains the
// steps after its checkpoint again) keeps its latest line.
struct RunRecord {
  std::string dir;
  std::string name;  // the folder's own name
  std::string job, model;
  int64_t workers = 0;
  std::map<int64_t, JsonValue> train;   // step -> "train" line
  std::map<int64_t, JsonValue> eval;    // step -> "eval" line
  std::optional<JsonValue> final_line;  // the last "final" line
  int restarts = 0;                     // "resume" lines
  int64_t unreadable_lines = 0;         // lines that are no JSON object (a killed writer's)
};

// Reads <run_dir>/metrics.jsonl. NotFound naming the file when it is missing; InvalidArgument
// when not one of its lines is a metrics line.
StatusOr<RunRecord> ReadRun(const std::string& run_dir);

// The HTML page of `runs` (at least one), in their order.
std::string RenderRunReport(const std::vector<RunRecord>& runs);

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_RUN_REPORT_H_
