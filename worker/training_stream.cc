#include "worker/training_stream.h"

#include <algorithm>

namespace moerec {

StatusOr<std::unique_ptr<TrainingStream>> TrainingStream::Open(
    const std::vector<std::string>& paths, const ReaderConfig& config, uint64_t seed, int worker,
    int num_workers) {
  const bool slices = config.worker_split() == ReaderConfig::GLOBAL_BATCH_SLICES;
  DataReader::Options options = DataReader::OptionsFromConfig(
      config, /*shuffle=*/true, seed, slices ? 0 : worker, slices ? 1 : num_workers);
  if (slices) options.batch_size = config.batch_size() * num_workers;
  ASSIGN_OR_RETURN(auto reader, DataReader::Open(paths, options));
  return std::unique_ptr<TrainingStream>(
      new TrainingStream(std::move(reader), slices, worker, num_workers, config.batch_size()));
}

Status TrainingStream::StartEpoch(int epoch) { return reader_->StartEpoch(epoch); }

StatusOr<bool> TrainingStream::Next(Batch* out) {
  if (!slices_) return reader_->Next(out);
  ASSIGN_OR_RETURN(const bool more, reader_->Next(&global_));
  if (!more) return false;
  const int64_t begin = std::min<int64_t>(global_.size, static_cast<int64_t>(worker_) * batch_);
  const int64_t end = std::min<int64_t>(global_.size, begin + batch_);
  out->Reset(global_.num_tasks, global_.num_slots, global_.num_dense);
  out->AppendFrom(global_, begin, end);
  return true;
}

Status TrainingStream::Skip(int64_t batches) {
  Batch scratch;
  for (int64_t i = 0; i < batches; ++i) {
    ASSIGN_OR_RETURN(const bool more, reader_->Next(&scratch));
    if (!more) {
      return FailedPrecondition("cannot skip " + std::to_string(batches) +
                                " batches: the epoch has only " + std::to_string(i));
    }
  }
  return Status::OK();
}

int64_t TrainingStream::samples_per_epoch() const {
  return slices_ ? reader_->num_samples() / num_workers_ : reader_->num_samples();
}

}  // namespace moerec
