#include "worker/training_stream.h"

#include <algorithm>
#include <string>

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

Status TrainingStream::StartEpoch(int epoch) {
  if (batcher_ != nullptr) batcher_->Clear();
  reader_done_ = false;
  return reader_->StartEpoch(epoch);
}

Status TrainingStream::SetDomainBatches(bool single_domain, int only_domain) {
  const int num_domains = reader_->header().num_domains();
  if (only_domain < -1 || only_domain >= num_domains) {
    return InvalidArgument("domain " + std::to_string(only_domain) + " outside [0, " +
                           std::to_string(num_domains) + ")");
  }
  batcher_.reset();
  if (single_domain || only_domain >= 0) {
    const int64_t size = static_cast<int64_t>(batch_) * (slices_ ? num_workers_ : 1);
    batcher_ = std::make_unique<DomainBatcher>(size, num_domains, only_domain);
  }
  return Status::OK();
}

StatusOr<bool> TrainingStream::NextFromReader(Batch* out) {
  if (batcher_ == nullptr) return reader_->Next(out);
  while (!batcher_->Pop(out)) {
    if (reader_done_) return false;
    ASSIGN_OR_RETURN(const bool more, reader_->Next(&raw_));
    if (more) {
      batcher_->Add(raw_);
    } else {
      batcher_->Flush();
      reader_done_ = true;
    }
  }
  return true;
}

StatusOr<bool> TrainingStream::Next(Batch* out) {
  if (!slices_) return NextFromReader(out);
  ASSIGN_OR_RETURN(const bool more, NextFromReader(&global_));
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
    ASSIGN_OR_RETURN(const bool more, Next(&scratch));
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
