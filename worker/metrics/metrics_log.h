// MetricsLog: the run's JSON-lines metrics file (DESIGN.md §7). Each Write appends one JSON
// object and its newline with a single write(2) loop on an O_APPEND descriptor, so a finished
// line is in the kernel when Write returns and survives the process being killed. Open adds a
// newline first when an earlier, killed writer left a partial last line, so every later line
// parses. Write is thread-safe (lines never interleave).
#ifndef MOEREC_WORKER_METRICS_METRICS_LOG_H_
#define MOEREC_WORKER_METRICS_METRICS_LOG_H_

#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "worker/metrics/json.h"

namespace moerec {

class MetricsLog {
 public:
  // Opens `path` for appending, creating it (mode 0644) when missing; the folder must exist.
  static StatusOr<std::unique_ptr<MetricsLog>> Open(const std::string& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Appends `object` as one line. IoError names the path when the write fails.
  Status Write(const JsonObject& object);

  const std::string& path() const { return path_; }

 private:
  MetricsLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  Status WriteAll(const std::string& text);  // requires mu_

  const std::string path_;
  std::mutex mu_;
  const int fd_;  // writes GUARDED_BY(mu_)
};

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_METRICS_LOG_H_
