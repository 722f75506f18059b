// DataReader streams batches from moerec shards (*.mrs) for one worker.
//
// The worker's share: all blocks of all files, in file order (directories expand to their *.mrs
// files, sorted by name), are cut into num_workers contiguous runs of about equal sample count
// (a block belongs to the worker whose range holds its middle sample); worker w reads run w.
// Shares are disjoint, cover every sample, and each is within one block of total / num_workers
// samples. A worker whose share is empty (fewer blocks than workers) sees empty epochs.
//
// An epoch: decode threads read blocks ahead into a bounded window; one assembler thread takes
// them in sequence order, passes samples through the shuffle buffer and keeps up to
// prefetch_batches finished batches ready for Next(). With shuffle, the block order is a
// permutation drawn from (seed, epoch, worker_index) and the shuffle buffer draws from the same
// stream, so the delivered sequence depends only on the files, the options and the epoch, never
// on thread timing or the number of threads. Without shuffle, samples come in file order.
//
// Errors: a block that fails to decode ends the epoch at its place in the sequence. Without
// shuffle every sample before it is delivered (the batch just before the error may be short);
// then Next returns the block's status, and keeps returning it until the next StartEpoch.
//
// Memory: about (2 * threads + 2) decoded blocks, plus the shuffle buffer (at most
// 2 * (shuffle_buffer + one block) samples), plus prefetch_batches batches.
// Thread-safety: StartEpoch and Next are called from one thread at a time. Batches handed out
// by Next belong to the caller; the buffers it passes in are recycled.
#ifndef MOEREC_DATA_READER_H_
#define MOEREC_DATA_READER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "data/batch.h"
#include "data/internal/shuffle_buffer.h"
#include "data/shard.h"
#include "proto/config.pb.h"

namespace moerec {

class DataReader {
 public:
  struct Options {
    int batch_size = 1024;       // samples per batch, >= 1; the epoch's last batch may be short
    int prefetch_batches = 4;    // finished batches kept ready, >= 1
    int threads = 2;             // decode threads, in [1, 256]
    int shuffle_buffer = 65536;  // samples (with shuffle), >= 0; 0 = shuffle blocks only
    uint64_t seed = 1;
    bool shuffle = false;  // true for training; evaluation reads in file order
    int worker_index = 0;  // in [0, num_workers)
    int num_workers = 1;   // >= 1
  };

  // Reader options from a job config: training readers shuffle, evaluation readers do not.
  static Options OptionsFromConfig(const ReaderConfig& config, bool shuffle, uint64_t seed,
                                   int worker_index = 0, int num_workers = 1);

  // `paths`: shard files or directories holding *.mrs files (not recursive). All files must
  // agree on tasks, slots (names and count), dense features, domains and has_truth.
  // InvalidArgument for bad options or disagreeing files, NotFound for a missing path or an
  // empty directory, Corruption for a damaged header or footer.
  static StatusOr<std::unique_ptr<DataReader>> Open(const std::vector<std::string>& paths,
                                                    const Options& options);
  ~DataReader();
  DataReader(const DataReader&) = delete;
  DataReader& operator=(const DataReader&) = delete;

  // Starts (or restarts, abandoning the current one) epoch `epoch` >= 0.
  Status StartEpoch(int epoch);
  // Fills *out with the next batch and returns true; false at the end of the epoch (and on every
  // call after it). A damaged block surfaces here as its Corruption status, at its place in the
  // sequence. FailedPrecondition before the first StartEpoch.
  StatusOr<bool> Next(Batch* out);

  const ShardHeader& header() const { return files_[0]->header(); }
  int64_t num_samples() const { return num_samples_; }  // this worker's share
  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  const std::vector<std::string>& files() const { return paths_; }

 private:
  struct BlockRef {
    int file;
    int block;
    int64_t samples;
  };
  // One entry of the finished-batch queue: a batch, the end of the epoch, or an error.
  struct Output {
    Batch batch;
    Status status;
    bool end = false;
  };

  DataReader(Options options, std::vector<std::string> paths,
             std::vector<std::unique_ptr<ShardReader>> files);
  void StopEpoch();
  void DecodeLoop();
  void AssembleLoop(uint64_t rng_seed);
  // Assembler side: the next decoded block of the sequence; null at its end, on stop, or on
  // error (then *status is set).
  std::unique_ptr<Batch> NextBlock(Status* status);
  // Assembler side: makes sure current_ has an unread sample. False at the end of the sequence
  // or on error (then *status is set) or stop.
  bool NextSample(Status* status);
  void RecycleBlock(std::unique_ptr<Batch> block);
  // Pushes an output, waiting for room. False when stopping.
  bool Emit(Output output);
  Batch TakeFreeBatch();

  const Options options_;
  const std::vector<std::string> paths_;
  const std::vector<std::unique_ptr<ShardReader>> files_;
  std::vector<BlockRef> blocks_;  // this worker's blocks, in file order
  int64_t num_samples_ = 0;
  int window_ = 0;  // blocks decoded ahead of the assembler

  std::vector<std::thread> threads_;
  bool started_ = false;

  std::mutex mu_;
  std::condition_variable decode_cv_;         // a decoder may claim a block, or stop
  std::condition_variable ready_cv_;          // a block the assembler waits for is decoded, or stop
  std::condition_variable output_cv_;         // an output is queued, or room for one, or stop
  bool stop_ = false;                         // GUARDED_BY(mu_)
  std::vector<int> order_;                    // GUARDED_BY(mu_) sequence -> blocks_ index
  int64_t next_claim_ = 0;                    // GUARDED_BY(mu_)
  int64_t next_consume_ = 0;                  // GUARDED_BY(mu_)
  std::vector<std::unique_ptr<Batch>> ring_;  // GUARDED_BY(mu_) window_ decoded blocks
  std::vector<Status> ring_status_;           // GUARDED_BY(mu_)
  std::vector<std::unique_ptr<Batch>> free_blocks_;  // GUARDED_BY(mu_)
  std::deque<Output> outputs_;                       // GUARDED_BY(mu_)
  std::vector<Batch> free_batches_;                  // GUARDED_BY(mu_)

  // Assembler-thread state.
  std::unique_ptr<Batch> current_;
  int64_t current_pos_ = 0;
  std::unique_ptr<ShuffleBuffer> shuffle_;  // when shuffle and shuffle_buffer > 0

  // Caller-thread state: the epoch's end or error, once Next has returned it.
  bool finished_ = false;
  Status failed_;
};

}  // namespace moerec

#endif  // MOEREC_DATA_READER_H_
