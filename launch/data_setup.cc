#include "launch/data_setup.h"

#include <filesystem>

#include <glog/logging.h>

#include "worker/data/shard.h"
#include "worker/data/synthetic.h"

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
  ASSIGN_OR_RETURN(const SyntheticOutputs outputs, SyntheticOutputsFromConfig(data));
  if (!force && HasShards(outputs.train_dir)) return Status::OK();
  LOG(INFO) << "generating " << data.synthetic().num_samples() << " synthetic samples into "
            << outputs.train_dir << ", " << outputs.validation_dir << ", " << outputs.test_dir;
  ASSIGN_OR_RETURN(const SyntheticSummary summary, GenerateSynthetic(data, outputs));
  LOG(INFO) << "synthetic data:\n" << FormatSyntheticSummary(data, summary);
  return Status::OK();
}

}  // namespace moerec
