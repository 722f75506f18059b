// EventFileWriter: one TensorBoard event file, <dir>/events.out.tfevents.<unix seconds>.<host>
// (TensorBoard's naming; ".<n>" is appended when that name is taken). The file is a sequence of
// TFRecord records: uint64 little-endian length, uint32 masked CRC-32C of those 8 bytes, the
// serialized TbEvent (proto/tensorboard.proto), uint32 masked CRC-32C of it. The first event
// holds file_version "brain.Event:2".
//
// Write appends to a memory buffer; a background thread writes the buffer to the file every
// `flush_secs`, and Flush or destruction write it at once, so a reader (TensorBoard while the
// job runs) sees every event at most flush_secs late and a killed process loses at most that
// much. Records reach the file whole, in order, with single write(2) loops on an O_APPEND
// descriptor. Thread-safe.
#ifndef MOEREC_WORKER_METRICS_EVENT_FILE_H_
#define MOEREC_WORKER_METRICS_EVENT_FILE_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "proto/tensorboard.pb.h"

namespace moerec {

class EventFileWriter {
 public:
  struct Options {
    double flush_secs = 10;  // > 0: the longest an event waits in memory
  };

  // Creates `dir` when missing and a new event file in it; writes the file_version event.
  static StatusOr<std::unique_ptr<EventFileWriter>> Open(const std::string& dir,
                                                         const Options& options);
  // Flushes (logging a failure) and stops the flusher.
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  // Queues one event. Returns the error of an earlier background write, if one failed (the
  // writer then keeps the events in memory and retries at the next flush).
  Status Write(const TbEvent& event);
  // A summary event at `step` with wall time now.
  Status WriteSummary(int64_t step, const TbSummary& summary);
  // Writes everything queued.
  Status Flush();

  const std::string& path() const { return path_; }

  // The TFRecord framing of `data`, as it is written to the file.
  static std::string FrameRecord(const std::string& data);

 private:
  EventFileWriter(std::string path, int fd, const Options& options);
  Status FlushLocked();  // requires mu_
  void FlushLoop();

  const std::string path_;
  const int fd_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::string pending_;    // GUARDED_BY(mu_): framed records not yet written
  Status write_error_;     // GUARDED_BY(mu_): the last background write's failure
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread flusher_;
};

// A histogram of `values` with `buckets` equal-width buckets from their min to their max.
TbHistogram MakeHistogram(const std::vector<double>& values, int buckets);

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_EVENT_FILE_H_
