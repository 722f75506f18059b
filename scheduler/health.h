// HealthMonitor: ends the job when a rank stops answering (DESIGN.md §9). Every rank runs a
// small thread on its own duplicate of the world communicator: ranks send a heartbeat to the
// chief every `interval`, and the chief sends one to every rank. When the chief has not heard
// from a rank for `timeout` it logs which rank that is (its role and index) and aborts the
// whole MPI job; a rank that has not heard from the chief does the same, naming the chief. A
// process that exits is reported by mpirun / srun themselves; the monitor catches ranks that
// hang (stopped, deadlocked, cut off).
// A rank whose work is done calls Stop(): it says goodbye (so its silence is not an alarm) and
// keeps answering until every rank has said goodbye, then the thread ends. A rank leaving on an
// error (its caller is about to end the job) does not wait for the others: the destructor
// stops the thread at once.
// Thread-safety: Start and Stop from the owning thread; the monitor thread is internal.
#ifndef MOEREC_SCHEDULER_HEALTH_H_
#define MOEREC_SCHEDULER_HEALTH_H_

#include <mpi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"

namespace moerec {

class HealthMonitor {
 public:
  struct Options {
    double interval_s = 1.0;  // heartbeat period
    double timeout_s = 60.0;  // silence that ends the job; > interval_s
    int chief = 0;            // world rank that watches everyone
    // Names a rank in messages, e.g. "worker 1" or "server 0".
    std::function<std::string(int)> describe;
  };

  // Duplicates `world` for its own traffic (collective over `world`) and starts the thread.
  static StatusOr<std::unique_ptr<HealthMonitor>> Start(MPI_Comm world, const Options& options);
  // Without a Stop() before it (a rank leaving on an error), stops the thread without waiting
  // for the other ranks' goodbyes.
  ~HealthMonitor();

  // Says goodbye and waits until every rank has; collective in effect (every rank calls it).
  void Stop();

 private:
  HealthMonitor(MPI_Comm comm, const Options& options, int rank, int size);
  void Loop();
  [[noreturn]] void Abort(const std::string& message);

  MPI_Comm comm_;
  const Options options_;
  int rank_ = 0;
  int size_ = 1;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> abandoned_{false};  // leave at once, without the goodbyes
  std::thread thread_;
};

}  // namespace moerec

#endif  // MOEREC_SCHEDULER_HEALTH_H_
