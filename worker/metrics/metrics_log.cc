#include "worker/metrics/metrics_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace moerec {

StatusOr<std::unique_ptr<MetricsLog>> MetricsLog::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("open " + path);
  std::unique_ptr<MetricsLog> log(new MetricsLog(path, fd));
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoError("stat " + path);
  if (st.st_size > 0) {
    // The write descriptor cannot read: look at the last byte through a second one.
    const int read_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (read_fd < 0) return ErrnoError("open " + path);
    char last = '\n';
    const ssize_t got = ::pread(read_fd, &last, 1, st.st_size - 1);
    const int read_errno = errno;
    ::close(read_fd);
    if (got != 1) {
      errno = got < 0 ? read_errno : EIO;
      return ErrnoError("read " + path);
    }
    if (last != '\n') {
      std::lock_guard<std::mutex> lock(log->mu_);
      RETURN_IF_ERROR(log->WriteAll("\n"));
    }
  }
  return log;
}

MetricsLog::~MetricsLog() { ::close(fd_); }

Status MetricsLog::Write(const JsonObject& object) {
  std::string line = object.ToString();
  line += '\n';
  std::lock_guard<std::mutex> lock(mu_);
  return WriteAll(line);
}

Status MetricsLog::WriteAll(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + path_);
    }
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

}  // namespace moerec
