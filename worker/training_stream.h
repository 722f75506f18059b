// TrainingStream: the training batches of one worker, epoch by epoch, under the configured
// worker split (ReaderConfig.worker_split):
//   FILE_SHARES          the worker's reader covers its disjoint share of the shards;
//   GLOBAL_BATCH_SLICES  the reader covers everything in global batches of W x batch_size (the
//                        same sequence on every worker: same files, seed and epoch) and the
//                        worker keeps rows [w B, (w + 1) B) of each, so W workers see exactly
//                        the global batches one process with batch W B would see.
// SetDomainBatches: every batch of one domain, regrouped by a DomainBatcher (in
// GLOBAL_BATCH_SLICES mode the global batches are regrouped before they are sliced, so the
// equivalence with one process holds), optionally of one domain only; takes effect at the next
// StartEpoch.
// Skip(n) consumes n batches without handing them out (resuming mid-epoch from a checkpoint
// reproduces the uninterrupted sequence, since the reader's order depends only on the files,
// the options and the epoch).
// Thread-safety: one thread.
#ifndef MOEREC_WORKER_TRAINING_STREAM_H_
#define MOEREC_WORKER_TRAINING_STREAM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "data/batch.h"
#include "data/domain_batcher.h"
#include "data/reader.h"
#include "proto/config.pb.h"

namespace moerec {

class TrainingStream {
 public:
  static StatusOr<std::unique_ptr<TrainingStream>> Open(const std::vector<std::string>& paths,
                                                        const ReaderConfig& config, uint64_t seed,
                                                        int worker, int num_workers);

  Status StartEpoch(int epoch);
  // The next batch of this worker; false at the end of the epoch. In GLOBAL_BATCH_SLICES mode a
  // short last global batch may leave this worker an empty slice (size 0).
  StatusOr<bool> Next(Batch* out);
  Status Skip(int64_t batches);
  // single_domain: batches of one domain each; only_domain >= 0: that domain's samples only
  // (in full batches). (false, -1) restores the reader's mixed batches.
  Status SetDomainBatches(bool single_domain, int only_domain);

  const DataReader& reader() const { return *reader_; }
  // Samples this worker trains on per epoch (approximately, for the planned step count).
  int64_t samples_per_epoch() const;

 private:
  // The reader's next batch, regrouped when SetDomainBatches asked for it.
  StatusOr<bool> NextFromReader(Batch* out);
  TrainingStream(std::unique_ptr<DataReader> reader, bool slices, int worker, int num_workers,
                 int batch)
      : reader_(std::move(reader)),
        slices_(slices),
        worker_(worker),
        num_workers_(num_workers),
        batch_(batch) {}

  std::unique_ptr<DataReader> reader_;
  const bool slices_;
  const int worker_;
  const int num_workers_;
  const int batch_;
  Batch global_;
  // Set by SetDomainBatches; regroups the reader's (global) batches.
  std::unique_ptr<DomainBatcher> batcher_;
  Batch raw_;
  bool reader_done_ = false;
};

}  // namespace moerec

#endif  // MOEREC_WORKER_TRAINING_STREAM_H_
