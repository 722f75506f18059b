// Progress: how long work reports itself while it runs. On a terminal, one live line rewritten
// in place; otherwise (cluster logs, pipes) a plain log line now and then. Training calls Step
// (step, samples/s, loss, ETA; logged every `every` steps); data generation and conversion call
// Count (rows, rows/s, ETA; logged every `every` seconds). Step and Count are not thread-safe.
#ifndef MOEREC_WORKER_PROGRESS_H_
#define MOEREC_WORKER_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace moerec {

class Progress {
 public:
  // total_steps: the planned number of steps (0 = unknown); every: log period in steps (>= 1).
  Progress(bool interactive, int64_t total_steps, int64_t every);

  // Called after each step with the step's loss and the samples/s over the recent window.
  void Step(int64_t step, double loss, double samples_per_sec);
  // `done` units of work (rows) of total_steps (0 = unknown), at the rate since construction.
  // A call with `last` (or with done == total_steps) is always shown. With the total unknown,
  // `share` in (0, 1] (the share of the input read) gives the ETA and is shown as a percentage.
  void Count(int64_t done, const char* unit, bool last = false, double share = -1.0);
  // Ends the live line (before other output is printed).
  void Break();

  static std::string FormatDuration(double seconds);  // "1h02m", "3m05s", "12s"

 private:
  const bool interactive_;
  const int64_t total_steps_;
  const int64_t every_;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::chrono::steady_clock::time_point last_log_;  // Count's log lines
  bool line_open_ = false;
};

}  // namespace moerec

#endif  // MOEREC_WORKER_PROGRESS_H_
