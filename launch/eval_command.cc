// `moerec eval` and `moerec predict`: a saved model, i.e. one checkpoint folder of a run
// (<run_dir>/checkpoints/step-N), written by one process or by a distributed job with any
// number of servers. One process loads it (every server's shard of the rows, the dense state,
// the experts wherever they were placed) through the trainer's own restore path, after checking
// that the checkpoint is a model of the config (JobCheckpointer::CheckModel). The config is
// --config, else the run folder's config.pbtxt (written by `moerec train`).
//   eval     the trainer's evaluation of a split: the metrics table, as at the end of training
//   predict  one line per sample of --data: sample index, domain, a probability per task
//            (docs/formats.md "Predictions")
#include <gflags/gflags.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/file_util.h"
#include "core/parallel.h"
#include "embedding/table_spec.h"
#include "launch/commands.h"
#include "launch/job_setup.h"
#include "proto/text_config.h"
#include "ps/local_store.h"
#include "worker/metrics/report_format.h"
#include "worker/trainer.h"

DECLARE_string(config);
DECLARE_string(out);
DECLARE_string(split);
DEFINE_string(checkpoint, "",
              "eval, predict: a checkpoint folder, e.g. RUN_DIR/checkpoints/step-0000000200");
DEFINE_string(data, "",
              "predict: shard files or folders of shards, comma-separated (moerec's format)");

namespace moerec {
namespace {

namespace fs = std::filesystem;

struct SavedModel {
  JobConfig config;
  std::unique_ptr<EmbeddingStore> store;
  std::unique_ptr<SelfCommunicator> self;
  std::unique_ptr<Trainer> trainer;
};

StatusOr<SavedModel> OpenSavedModel(const std::string& command) {
  if (FLAGS_checkpoint.empty())
    return InvalidArgument("--checkpoint (a checkpoint folder) is required");
  fs::path dir = fs::path(FLAGS_checkpoint).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFound("--checkpoint=" + FLAGS_checkpoint + ": no such folder");
  }
  if (!fs::exists(dir / "MANIFEST", ec)) {
    return InvalidArgument("--checkpoint=" + FLAGS_checkpoint +
                           ": not a checkpoint folder (no MANIFEST); give one of "
                           "RUN_DIR/checkpoints/step-*");
  }
  // <run_dir>/checkpoints/<name>
  const fs::path run_dir = fs::absolute(dir).parent_path().parent_path();
  std::string config_path = FLAGS_config;
  if (config_path.empty()) {
    config_path = (run_dir / kRunConfigName).string();
    if (!fs::exists(config_path, ec)) {
      return InvalidArgument(command + ": " + config_path +
                             " is missing (the run was trained by an older build): pass "
                             "--config=FILE, the job config that trained it");
    }
  }
  SavedModel m;
  ASSIGN_OR_RETURN(m.config, LoadJobConfig(config_path));
  // One process reads every server's shard of the checkpoint.
  m.config.mutable_cluster()->set_num_workers(1);
  m.config.mutable_cluster()->set_num_servers(0);
  m.config.mutable_cluster()->clear_server_ranks();
  m.config.mutable_cluster()->clear_worker_ranks();
  RETURN_IF_ERROR(ValidateJobConfig(m.config, config_path));
  SetComputeThreads(ResolveComputeThreads(m.config.train().threads()));
  ASSIGN_OR_RETURN(m.store, LocalStore::Open(TableSpecsFromConfig(m.config)));
  m.self = std::make_unique<SelfCommunicator>();
  Trainer::Options options;
  options.run_dir = run_dir.string();
  options.saved_model = fs::absolute(dir).string();
  options.print_table = false;
  options.tb_flush_secs = 0;
  ASSIGN_OR_RETURN(m.trainer, Trainer::Create(m.config, options, m.store.get(), m.self.get()));
  return m;
}

Status Eval() {
  if (FLAGS_split != "test" && FLAGS_split != "validation") {
    return InvalidArgument("--split=" + FLAGS_split + ": want test or validation");
  }
  ASSIGN_OR_RETURN(SavedModel m, OpenSavedModel("eval"));
  ASSIGN_OR_RETURN(const Report report, m.trainer->Evaluate(FLAGS_split));
  std::printf("checkpoint: %s (step %lld), split: %s\n", FLAGS_checkpoint.c_str(),
              static_cast<long long>(m.trainer->step()), FLAGS_split.c_str());
  std::printf("%s", FormatReportTable(report).c_str());
  std::printf("mean_auc=%.6f\nweighted_auc=%.6f\n", report.mean_auc, report.weighted_auc);
  for (const auto& [name, value] : report.retrieval) std::printf("%s=%.6f\n", name.c_str(), value);
  return Status::OK();
}

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Status Predict() {
  if (FLAGS_data.empty()) return InvalidArgument("--data (shards to score) is required");
  if (FLAGS_out.empty()) return InvalidArgument("--out (the file to write) is required");
  ASSIGN_OR_RETURN(SavedModel m, OpenSavedModel("predict"));
  const DataConfig& data = m.config.data();
  ASSIGN_OR_RETURN(auto out, AtomicFile::Create(FLAGS_out));
  std::string header = "# moerec predict: checkpoint " + FLAGS_checkpoint + " (step " +
                       std::to_string(m.trainer->step()) + ")\nsample\tdomain";
  for (int t = 0; t < data.num_tasks(); ++t) {
    header += "\t" + (t < data.task_names_size() ? data.task_names(t) : "task" + std::to_string(t));
  }
  RETURN_IF_ERROR(out->Append(header + "\n"));
  int64_t samples = 0;
  std::vector<int64_t> rows;
  std::string text;
  auto sink = [&](const Batch& batch, const float* probs, const std::vector<int64_t>& index) {
    // Back to file order within the batch.
    rows.resize(batch.size);
    for (int64_t r = 0; r < batch.size; ++r) rows[r] = r;
    std::sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) { return index[a] < index[b]; });
    text.clear();
    char buf[32];
    for (int64_t r : rows) {
      const int d = batch.domain[r];
      text += std::to_string(index[r]) + "\t" +
              (d < data.domain_names_size() ? data.domain_names(d) : std::to_string(d));
      for (int t = 0; t < batch.num_tasks; ++t) {
        std::snprintf(buf, sizeof(buf), "\t%.6g", probs[r * batch.num_tasks + t]);
        text += buf;
      }
      text += "\n";
    }
    samples += batch.size;
    return out->Append(text);
  };
  RETURN_IF_ERROR(m.trainer->Predict(SplitList(FLAGS_data), sink));
  RETURN_IF_ERROR(out->Commit());
  std::printf("predictions=%lld\nout=%s\n", static_cast<long long>(samples), FLAGS_out.c_str());
  return Status::OK();
}

}  // namespace

int EvalCommand() { return ReportStatus("eval", Eval()); }
int PredictCommand() { return ReportStatus("predict", Predict()); }

}  // namespace moerec
