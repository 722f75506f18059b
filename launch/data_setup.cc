#include "launch/data_setup.h"

#include <fcntl.h>
#include <glog/logging.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "data/shard.h"
#include "data/synthetic/synthetic.h"
#include "worker/metrics/oracle.h"

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

// Holds an exclusive flock on a file for its lifetime: jobs that want the same dataset at the
// same time generate it once (the second finds it written).
class FileLock {
 public:
  static StatusOr<std::unique_ptr<FileLock>> Acquire(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("open " + path);
    if (::flock(fd, LOCK_EX) != 0) {
      Status s = ErrnoError("lock " + path);
      ::close(fd);
      return s;
    }
    return std::unique_ptr<FileLock>(new FileLock(fd));
  }
  ~FileLock() { ::close(fd_); }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

Status EnsureSyntheticData(const DataConfig& data, bool force) {
  if (!data.has_synthetic()) return Status::OK();
  ASSIGN_OR_RETURN(const SyntheticOutputs outputs, SyntheticOutputsFromConfig(data));
  if (!force && HasShards(outputs.train_dir)) return Status::OK();
  const std::string lock_path =
      (std::filesystem::path(outputs.train_dir).parent_path() / ".moerec-gen.lock").string();
  ASSIGN_OR_RETURN(auto lock, FileLock::Acquire(lock_path));
  if (!force && HasShards(outputs.train_dir)) return Status::OK();  // written meanwhile
  LOG(INFO) << "generating " << data.synthetic().num_samples() << " synthetic samples into "
            << outputs.train_dir << ", " << outputs.validation_dir << ", " << outputs.test_dir;
  ASSIGN_OR_RETURN(const SyntheticSummary summary, GenerateSynthetic(data, outputs));
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

}  // namespace moerec
