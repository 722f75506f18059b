#include "worker/metrics/oracle.h"

#include <algorithm>
#include <cstdio>
#include <memory>

#include "data/reader.h"

namespace moerec {

StatusOr<Report> OracleReport(const std::vector<std::string>& paths, const DataConfig& data,
                              int64_t max_samples) {
  DataReader::Options options;
  options.shuffle = false;
  options.batch_size = 8192;
  ASSIGN_OR_RETURN(std::unique_ptr<DataReader> reader, DataReader::Open(paths, options));
  const ShardHeader& header = reader->header();
  if (!header.has_truth()) {
    return FailedPrecondition(paths.front() + ": the shards carry no true probabilities");
  }
  DomainTaskMetrics metrics(
      header.num_domains(), header.num_tasks(),
      std::vector<std::string>(data.domain_names().begin(), data.domain_names().end()),
      std::vector<std::string>(data.task_names().begin(), data.task_names().end()));
  RETURN_IF_ERROR(reader->StartEpoch(0));
  Batch batch, head;
  int64_t seen = 0;
  while (seen < max_samples) {
    ASSIGN_OR_RETURN(const bool more, reader->Next(&batch));
    if (!more) break;
    const int64_t take = std::min<int64_t>(batch.size, max_samples - seen);
    const Batch* part = &batch;
    if (take < batch.size) {
      head.Reset(batch.num_tasks, batch.num_slots, batch.num_dense);
      head.AppendFrom(batch, 0, take);
      part = &head;
    }
    RETURN_IF_ERROR(metrics.Add(*part, part->truth.data()));
    seen += take;
  }
  return metrics.Compute();
}

std::string FormatOracleTable(const std::vector<std::string>& split_names,
                              const std::vector<Report>& reports) {
  if (reports.empty()) return "";
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%-12s %9s", "oracle AUC", "mean");
  out += buf;
  for (const std::string& task : reports.front().task_names) {
    std::snprintf(buf, sizeof(buf), " %10s", task.c_str());
    out += buf;
  }
  out += "\n";
  for (size_t i = 0; i < reports.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%-12s %9.4f", split_names[i].c_str(), reports[i].mean_auc);
    out += buf;
    for (double auc : reports[i].task_weighted_auc) {
      std::snprintf(buf, sizeof(buf), " %10.4f", auc);
      out += buf;
    }
    out += "\n";
  }
  return out;
}

}  // namespace moerec
