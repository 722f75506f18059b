#include "launch/job_setup.h"

#include <glog/logging.h>
#include <google/protobuf/text_format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

#include "comm/mpi_communicator.h"
#include "core/file_lock.h"
#include "core/file_util.h"
#include "core/gpu.h"
#include "data/reader.h"
#include "data/shard.h"
#include "data/synthetic/matching.h"
#include "data/synthetic/synthetic.h"
#include "worker/metrics/oracle.h"
#include "worker/progress.h"

namespace moerec {
namespace {

bool HasShards(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return true;
  if (!fs::is_directory(path, ec)) return false;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    if (entry.path().extension() == kShardExtension) return true;
  }
  return false;
}

}  // namespace

Status EnsureSyntheticData(const DataConfig& data, bool force) {
  if (!data.has_synthetic()) return Status::OK();
  const bool matching = data.synthetic().has_matching();
  MatchingOutputs outputs;  // items_dir stays empty for ranking data
  if (matching) {
    ASSIGN_OR_RETURN(outputs, MatchingOutputsFromConfig(data));
  } else {
    ASSIGN_OR_RETURN(outputs.splits, SyntheticOutputsFromConfig(data));
  }
  const std::string& train_dir = outputs.splits.train_dir;
  const auto present = [&] {
    return HasShards(train_dir) && (!matching || HasShards(outputs.items_dir));
  };
  if (!force && present()) return Status::OK();
  const std::string lock_path =
      (std::filesystem::path(train_dir).parent_path() / ".moerec-gen.lock").string();
  ASSIGN_OR_RETURN(auto lock, FileLock::Acquire(lock_path));
  if (!force && present()) return Status::OK();  // written meanwhile
  LOG(INFO) << "generating " << data.synthetic().num_samples() << " synthetic "
            << (matching ? "interactions" : "samples") << " into " << train_dir << ", "
            << outputs.splits.validation_dir << ", " << outputs.splits.test_dir
            << (matching ? ", items " + outputs.items_dir : "");
  // Rows generated: a live line on a terminal, else a log line every 10 seconds.
  if (matching) {
    Progress progress(InteractiveProgress(),
                      data.synthetic().num_samples() + data.synthetic().matching().num_items(), 10);
    ASSIGN_OR_RETURN(const MatchingSummary summary,
                     GenerateMatching(data, outputs, [&](int64_t done, int64_t total) {
                       progress.Count(done, "rows", /*last=*/done == total);
                     }));
    progress.Break();
    LOG(INFO) << "synthetic data:\n" << FormatMatchingSummary(data, summary);
    return Status::OK();
  }
  Progress progress(InteractiveProgress(), data.synthetic().num_samples(), 10);
  ASSIGN_OR_RETURN(const SyntheticSummary summary,
                   GenerateSynthetic(data, outputs.splits,
                                     [&](int64_t done, int64_t) { progress.Count(done, "rows"); }));
  progress.Break();
  std::vector<std::string> split_names;
  std::vector<Report> oracles;
  for (const SyntheticSplitSummary& split : summary.splits) {
    if (split.samples == 0) continue;
    ASSIGN_OR_RETURN(Report oracle, OracleReport({split.dir}, data));
    split_names.push_back(split.name);
    oracles.push_back(std::move(oracle));
  }
  LOG(INFO) << "synthetic data:\n"
            << FormatSyntheticSummary(data, summary) << FormatOracleTable(split_names, oracles);
  return Status::OK();
}

bool InteractiveProgress() {
  const char* env = std::getenv("MOEREC_PROGRESS");
  if (env != nullptr) return std::string(env) == "1";
  return isatty(STDOUT_FILENO) != 0 && !MpiSession::LaunchedByMpi();
}

StatusOr<std::unique_ptr<FileLock>> LockRunDir(const std::string& run_dir) {
  return FileLock::TryAcquire(run_dir + "/LOCK", "run folder " + run_dir);
}

Status CheckSplits(const DataConfig& data) {
  const std::pair<const char*, const google::protobuf::RepeatedPtrField<std::string>*> splits[] = {
      {"train", &data.train()}, {"validation", &data.validation()}, {"test", &data.test()}};
  for (const auto& [name, paths] : splits) {
    if (paths->empty()) continue;
    DataReader::Options options;
    options.threads = 1;
    auto reader = DataReader::Open(std::vector<std::string>(paths->begin(), paths->end()), options);
    if (!reader.ok()) return reader.status().WithContext(std::string("data.") + name);
  }
  return Status::OK();
}

Status SaveRunConfig(const JobConfig& config, const std::string& run_dir) {
  JobConfig saved = config;
  DataConfig* data = saved.mutable_data();
  for (auto* list : {data->mutable_train(), data->mutable_validation(), data->mutable_test(),
                     data->mutable_items()}) {
    for (std::string& p : *list) p = std::filesystem::absolute(p).lexically_normal().string();
  }
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(saved, &text)) {
    return Internal("cannot print the job config as text");
  }
  return WriteFileAtomically(
      (std::filesystem::path(run_dir) / kRunConfigName).string(),
      "# The config of the job that wrote this folder (moerec train).\n" + text);
}

StatusOr<std::unique_ptr<GpuResources>> OpenWorkerGpu(int local_rank) {
  const GpuInventory inventory = ListGpus();
  if (inventory.gpus.empty()) {
    return Unavailable("--device=cuda: " + DescribeGpus(inventory));
  }
  GpuResourcesOptions options;
  options.device = local_rank % static_cast<int>(inventory.gpus.size());
  ASSIGN_OR_RETURN(auto gpu, GpuResources::Create(options));
  LOG(INFO) << "worker on " << gpu->Describe() << " (local rank " << local_rank << ")";
  return gpu;
}

}  // namespace moerec
